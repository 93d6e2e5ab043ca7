/**
 * A multi-region lab on Docker: a control network the host reaches every container through
 * (containers cannot talk over it), region/WAN networks joined with aliases, and the faults the
 * scenarios need. Everything created carries the labels `org.testcontainers=true` and
 * `geogate.lab=<id>` and is removed by `close()`, by the exit handler, or by the next lab when
 * the process that made it is gone.
 */
import { randomBytes } from 'node:crypto';
import { GenericContainer, Wait, type StartedTestContainer } from 'testcontainers';
import { buildLocalImage, ensureDist } from '../../../infra/images/index.js';
import { command, docker, dockerSync, lines } from './docker.js';
import { ensureEngine, PROJECT_ROOT, releaseEngine } from './engine.js';

export const LAB_LABEL = 'geogate.lab';
export const LAB_PID_LABEL = 'geogate.lab.pid';
export const DEFAULT_START_TIMEOUT_MS = 30_000;
/** Compiled files the containers run. */
export const REQUIRED_DIST: readonly string[] = ['dist/infra/wan/main.js'];

export interface NodeSpec {
  /** Short name, unique in the lab; also the container's alias on every network it joins. */
  name: string;
  command: string[];
  /** Network (as returned by `lab.network()`) → extra aliases. */
  networks?: Record<string, string[]>;
  env?: Record<string, string>;
  /** Log line that says the process is ready. */
  waitForLog?: string | RegExp;
  startTimeoutMs?: number;
}

export interface LabNode {
  name: string;
  id: string;
  container: StartedTestContainer;
  /** Network → aliases it was joined with (used again when a cut link is healed). */
  networks: Map<string, string[]>;
}

export interface LabOptions {
  /** Used in network and container names. */
  name: string;
  log?: (message: string) => void;
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Removes containers and networks of labs whose process is gone (a run that crashed). */
export async function sweepAbandonedLabs(): Promise<void> {
  const filter = ['--filter', `label=${LAB_LABEL}`, '--format', `{{.ID}} {{.Label "${LAB_PID_LABEL}"}}`];
  const dead = (rows: string) => lines(rows).filter((r) => !pidAlive(Number(r.split(' ')[1]))).map((r) => r.split(' ')[0] ?? '');
  const containers = dead(await docker(['ps', '-a', ...filter]));
  if (containers.length > 0) await docker(['rm', '-f', '-v', ...containers]);
  const networks = dead(await docker(['network', 'ls', ...filter]));
  if (networks.length > 0) await docker(['network', 'rm', ...networks]).catch(() => undefined);
}

export class Lab {
  readonly nodes = new Map<string, LabNode>();
  private readonly networks: string[] = [];
  private closed = false;
  private readonly onExit = () => this.closeSync();

  private constructor(
    readonly id: string,
    readonly image: string,
    readonly controlNetwork: string,
    private readonly log: (message: string) => void,
  ) {
    this.networks.push(controlNetwork);
    process.once('exit', this.onExit);
  }

  /** Engine, dist/, image, control network. Throws with a clear message when any is missing. */
  static async create(options: LabOptions): Promise<Lab> {
    const log = options.log ?? ((m: string) => console.log(`[lab] ${m}`));
    const engine = await ensureEngine();
    if (!engine.available) throw new Error(`no Docker engine: ${engine.reason ?? 'unknown'}`);
    await sweepAbandonedLabs();
    const dist = await ensureDist(PROJECT_ROOT, REQUIRED_DIST);
    if (dist.warnings) log(`dist built with compiler errors elsewhere in the tree (outputs present):\n${dist.warnings.slice(0, 2000)}`);
    const image = await buildLocalImage({ projectRoot: PROJECT_ROOT, log });
    const id = `${options.name}-${randomBytes(3).toString('hex')}`;
    const control = `${id}-control`;
    await docker(['network', 'create', '--driver', 'bridge', '--opt', 'com.docker.network.bridge.enable_icc=false', ...Lab.labels(id), control]);
    return new Lab(id, image.tag, control, log);
  }

  private static labels(id: string): string[] {
    return ['--label', 'org.testcontainers=true', '--label', `${LAB_LABEL}=${id}`, '--label', `${LAB_PID_LABEL}=${process.pid}`];
  }

  /** A region or WAN network; containers on it reach each other by alias. Returns its name. */
  async network(name: string): Promise<string> {
    const full = `${this.id}-${name}`;
    await docker(['network', 'create', '--driver', 'bridge', ...Lab.labels(this.id), full]);
    this.networks.push(full);
    return full;
  }

  /** Starts a container from the lab image on the control network, then joins its networks. */
  async start(spec: NodeSpec): Promise<LabNode> {
    if (this.nodes.has(spec.name)) throw new Error(`node ${spec.name} exists in lab ${this.id}`);
    let builder = new GenericContainer(this.image)
      .withName(`${this.id}-${spec.name}`)
      .withCommand(spec.command)
      .withNetworkMode(this.controlNetwork)
      .withLabels({ [LAB_LABEL]: this.id, [LAB_PID_LABEL]: String(process.pid) })
      .withEnvironment(spec.env ?? {})
      .withStartupTimeout(spec.startTimeoutMs ?? DEFAULT_START_TIMEOUT_MS);
    if (spec.waitForLog) builder = builder.withWaitStrategy(Wait.forLogMessage(spec.waitForLog));
    const container = await builder.start();
    const node: LabNode = { name: spec.name, id: container.getId(), container, networks: new Map() };
    this.nodes.set(spec.name, node);
    for (const [network, aliases] of Object.entries(spec.networks ?? {})) {
      node.networks.set(network, [spec.name, ...aliases]);
      await this.connect(node, network);
    }
    return node;
  }

  node(name: string): LabNode {
    const node = this.nodes.get(name);
    if (!node) throw new Error(`no node ${name} in lab ${this.id}`);
    return node;
  }

  /** The node's address on a network (default: the control network the host talks over). */
  async ip(node: LabNode, network = this.controlNetwork): Promise<string> {
    const json = await docker(['inspect', '--format', '{{json .NetworkSettings.Networks}}', node.id]);
    const nets = JSON.parse(json) as Record<string, { IPAddress?: string }>;
    const ip = nets[network]?.IPAddress;
    if (!ip) throw new Error(`${node.name} has no address on ${network}`);
    return ip;
  }

  /** Cuts a node off a network (both ways, instantly). */
  async disconnect(node: LabNode, network: string): Promise<void> {
    await docker(['network', 'disconnect', '--force', network, node.id]);
  }

  /** Joins (or re-joins after a cut) a network with the node's aliases. */
  async connect(node: LabNode, network: string): Promise<void> {
    const aliases = node.networks.get(network) ?? [node.name];
    node.networks.set(network, aliases);
    await docker(['network', 'connect', ...aliases.flatMap((a) => ['--alias', a]), network, node.id]);
  }

  /** One-way cut: packets from the node to `ip` are dropped (the node's own netns). */
  async dropTo(node: LabNode, ip: string): Promise<void> {
    await this.iptables(node, ['-A', 'OUTPUT', '-d', ip, '-j', 'DROP']);
  }
  async undropTo(node: LabNode, ip: string): Promise<void> {
    await this.iptables(node, ['-D', 'OUTPUT', '-d', ip, '-j', 'DROP']);
  }
  /** One-way cut: packets from `ip` to the node are dropped. */
  async dropFrom(node: LabNode, ip: string): Promise<void> {
    await this.iptables(node, ['-A', 'INPUT', '-s', ip, '-j', 'DROP']);
  }
  async undropFrom(node: LabNode, ip: string): Promise<void> {
    await this.iptables(node, ['-D', 'INPUT', '-s', ip, '-j', 'DROP']);
  }

  private async iptables(node: LabNode, rule: string[]): Promise<void> {
    const pid = await docker(['inspect', '--format', '{{.State.Pid}}', node.id]);
    if (!/^[1-9]\d*$/.test(pid)) throw new Error(`${node.name} is not running (pid ${pid})`);
    await command('nsenter', ['-t', pid, '-n', 'iptables', '-w', '5', ...rule]);
  }

  /** Freezes every process of the node (a GC pause, a hung host). */
  async pause(node: LabNode): Promise<void> {
    await docker(['pause', node.id]);
  }
  async unpause(node: LabNode): Promise<void> {
    await docker(['unpause', node.id]);
  }
  /** SIGKILL: a crash. The container stays, `startAgain` brings it back. */
  async kill(node: LabNode): Promise<void> {
    await docker(['kill', node.id]);
  }
  async startAgain(node: LabNode): Promise<void> {
    await docker(['start', node.id]);
  }
  async restart(node: LabNode): Promise<void> {
    await docker(['restart', '--time', '2', node.id]);
  }

  /** Runs a command inside the node; resolves with exit code and output. */
  async exec(node: LabNode, cmd: string[]): Promise<{ exitCode: number; output: string }> {
    const result = await node.container.exec(cmd);
    return { exitCode: result.exitCode, output: result.output };
  }

  async logs(node: LabNode, tailLines = 50): Promise<string> {
    return docker(['logs', '--tail', String(tailLines), node.id]).catch((e: Error) => e.message);
  }

  /** Removes every container and network of the lab, even after a failed test; idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    process.off('exit', this.onExit);
    const ids = lines(await docker(['ps', '-aq', '--filter', `label=${LAB_LABEL}=${this.id}`]).catch(() => ''));
    if (ids.length > 0) await docker(['rm', '-f', '-v', ...ids]).catch((e: Error) => this.log(`cleanup: ${e.message}`));
    for (const network of this.networks.reverse()) {
      await docker(['network', 'rm', network]).catch((e: Error) => this.log(`cleanup: ${e.message}`));
    }
    await releaseEngine();
  }

  private closeSync(): void {
    if (this.closed) return;
    this.closed = true;
    dockerSync(['rm', '-f', '-v', ...[...this.nodes.values()].map((n) => n.id)]);
    for (const network of this.networks) dockerSync(['network', 'rm', network]);
  }
}
