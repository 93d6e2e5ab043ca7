/**
 * One geogate gateway in its own process, for the benchmarks. The config (the same JSON as a
 * gateway config file) comes in GEOGATE_BENCH_CONFIG; the process prints `READY <port>` once
 * it listens and closes the gateway on SIGTERM / SIGINT.
 */
import { parseGatewayConfig, startGateway } from '../../gateway/index.js';
import { silentLogger } from '../../infra/log.js';
import { announceReady, onStopSignal } from './child.js';

const raw = process.env.GEOGATE_BENCH_CONFIG;
if (!raw) throw new Error('GEOGATE_BENCH_CONFIG is not set');
const config = parseGatewayConfig(JSON.parse(raw) as unknown, 'GEOGATE_BENCH_CONFIG');
const gateway = await startGateway(config, { log: silentLogger() });
onStopSignal(() => gateway.close());
announceReady(gateway.port);
