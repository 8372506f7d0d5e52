export {
  openCollector,
  MAX_RETENTION_DAYS,
  type Collector,
  type CollectorOptions,
} from './collector';
export { createApp, type AppOptions } from './app';
export { listen, type RunningServer, type ListenOptions } from './server';
export { makeProgram } from './program';
export { createKeys, loadKeyring, Keyring, KeyringError } from './crypto/keyring';
export { makeToken, parseToken, tokenDigest, type Role } from './auth/tokens';
export { resolveDataDir, dataPaths } from './paths';
