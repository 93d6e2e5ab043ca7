import { describe, expect, it } from 'vitest';
import { dialTlsOptions, PeerIdentityError, tlsErrorReason } from './tls.js';
import { isCertificateError } from '../replicator/dialer.js';

describe('TLS helpers', () => {
  it('labels refused handshakes with a bounded reason', () => {
    const e = (message: string, code?: string) => Object.assign(new Error(message), code ? { code } : {});
    expect(tlsErrorReason(e('140:error:0A00009C:SSL routines::http request', 'ERR_SSL_HTTP_REQUEST'))).toBe('plaintext');
    expect(tlsErrorReason(e('wrong version number', 'ERR_SSL_WRONG_VERSION_NUMBER'))).toBe('protocol');
    expect(tlsErrorReason(e('sslv3 alert bad certificate'))).toBe('certificate');
    expect(tlsErrorReason(e('socket hang up', 'ECONNRESET'))).toBe('reset');
    expect(tlsErrorReason(e('something else'))).toBe('other');
  });

  it('a dialer checks the identity the server certificate names, not the hostname', () => {
    const o = dialTlsOptions({ cert: 'c', key: 'k', ca: ['a'] }, 'geogate://region/west');
    expect(o.rejectUnauthorized).toBe(true);
    expect(o.checkServerIdentity('10.1.2.3', { subjectaltname: 'URI:geogate://region/west, DNS:elsewhere' } as never)).toBeUndefined();
    const err = o.checkServerIdentity('127.0.0.1', { subjectaltname: 'URI:geogate://region/east, IP Address:127.0.0.1' } as never);
    expect(err).toBeInstanceOf(PeerIdentityError);
    expect(err?.message).toBe('the certificate names geogate://region/east, not geogate://region/west');
    expect(isCertificateError(err!)).toBe(true);
    expect(isCertificateError(Object.assign(new Error('certificate has expired'), { code: 'CERT_HAS_EXPIRED' }))).toBe(true);
    expect(isCertificateError(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }))).toBe(false);
  });
});
