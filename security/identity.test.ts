import { describe, expect, it } from 'vitest';
import { identitiesOf, identityProblem, regionIdentity, regionsOf, WITNESS_IDENTITY } from './identity.js';

describe('certificate identity', () => {
  it('reads the geogate URIs among the SANs', () => {
    const san = 'URI:geogate://region/east, DNS:east.example, IP Address:127.0.0.1, URI:https://x.example';
    expect(identitiesOf(san)).toEqual(['geogate://region/east']);
    expect(regionsOf(san)).toEqual(['east']);
  });
  it('reads quoted SAN values', () => {
    expect(regionsOf('DNS:"a, b", URI:"geogate://region/west"')).toEqual(['west']);
  });
  it('names what is wrong', () => {
    expect(identityProblem(undefined, WITNESS_IDENTITY)).toMatch(/names no geogate identity/);
    expect(identityProblem('URI:geogate://region/east', regionIdentity('west'))).toBe('the certificate names geogate://region/east, not geogate://region/west');
    expect(identityProblem('URI:geogate://region/west', regionIdentity('west'))).toBeNull();
  });
});
