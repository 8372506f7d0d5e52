/** Why a report carries no dump. */
export type DumpWithheld = 'user-opt-out' | 'too-large' | 'unserializable';

/** The only dump algorithm of schema 1: nacl.box with a fresh ephemeral key per report. */
export const DUMP_ALG = 'x25519-xsalsa20-poly1305';

/** The encrypted dump as it travels: only the collector's secret key opens it. */
export interface SealedDump {
  alg: typeof DUMP_ALG;
  keyId: string;
  /** base64 of the 32-byte ephemeral public key */
  epk: string;
  /** base64 of the 24-byte nonce */
  nonce: string;
  /** base64 of nacl.box(plaintext, nonce, collectorPublicKey, ephemeralSecretKey) */
  ciphertext: string;
}

/** One error report, schema 1, exactly as the SDK sends it (contract section 1). */
export interface Report {
  schema: 1;
  id: string;
  occurredAt: string;
  app: { name: string; version: string };
  license: string;
  username?: string;
  error: {
    number: number;
    description: string;
    module: string;
    procedure: string;
    line: number;
    code?: string;
  };
  repeats?: number;
  dump?: SealedDump;
  dumpWithheld?: DumpWithheld;
}
