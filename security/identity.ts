/**
 * Node identity in certificates: a region's certificate carries the SAN
 * `URI:geogate://region/<name>`, the witness's `URI:geogate://witness`. A link or a vote is
 * accepted only from a certificate of the cluster CA naming the region it claims; hostnames
 * (DNS/IP SANs) are for clients and are not what a peer is checked against. Pure: takes the
 * certificate's `subjectaltname` string as Node reports it.
 */

export const IDENTITY_SCHEME = 'geogate:';
export const WITNESS_IDENTITY = 'geogate://witness';

export function regionIdentity(region: string): string {
  return `geogate://region/${region}`;
}

/** The geogate URIs a certificate names (`subjectaltname` as in tls.PeerCertificate / X509Certificate). */
export function identitiesOf(subjectAltName: string | undefined): string[] {
  if (!subjectAltName) return [];
  const out: string[] = [];
  // Node joins entries with ", " and quotes values that contain separators (then JSON-escaped)
  for (const entry of subjectAltName.split(/, (?=[A-Za-z ]+:)/)) {
    if (!entry.startsWith('URI:')) continue;
    let value = entry.slice(4);
    if (value.startsWith('"')) {
      try { value = JSON.parse(value) as string; } catch { continue; }
    }
    if (value.startsWith(`${IDENTITY_SCHEME}//`)) out.push(value);
  }
  return out;
}

/** Regions a certificate names (`geogate://region/<name>` SANs). */
export function regionsOf(subjectAltName: string | undefined): string[] {
  const prefix = 'geogate://region/';
  return identitiesOf(subjectAltName).filter((u) => u.startsWith(prefix)).map((u) => u.slice(prefix.length));
}

/** Null when the certificate names `identity`, else why not (for the log line). */
export function identityProblem(subjectAltName: string | undefined, identity: string): string | null {
  const named = identitiesOf(subjectAltName);
  if (named.includes(identity)) return null;
  return named.length === 0
    ? `the certificate names no geogate identity (expected ${identity})`
    : `the certificate names ${named.join(', ')}, not ${identity}`;
}
