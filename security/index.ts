/** Certificates, identities, secrets and TLS options shared by the gateway, the replicator and the witness. */
export { regionIdentity, regionsOf, identitiesOf, identityProblem, WITNESS_IDENTITY } from './identity.js';
export {
  Credentials, CredentialsError, readSecrets, readTlsFiles, sourceProblem, secretSourceFields, tokenSourceFields, tlsFilesSchema,
  SECRETS_MAX, CA_FILES_MAX, type CredentialsSpec, type SecretSource, type TlsFiles, type TlsMaterial,
} from './credentials.js';
export { serverTlsOptions, dialTlsOptions, CLUSTER_SERVERNAME, certificateExpirySeconds, clientIdentityProblem, verifiedClientSan, tlsSocketOf, watchTlsErrors, tlsErrorReason, PeerIdentityError } from './tls.js';
export { tokenAccepted, bearerToken } from './admin-token.js';
export { watchFiles, WATCHED_FILES_MAX } from './file-watch.js';
export { createCa, createNodeCert, nodeFileBase, CertsError, type CertFiles, type NodeIdentity, DEFAULT_NODE_HOSTS } from './certs.js';
