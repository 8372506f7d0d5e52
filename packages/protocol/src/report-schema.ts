import { DATE_TIME_PATTERN, LIMITS, UUID_PATTERN, VERSION_PATTERN } from './limits';
import { DUMP_ALG } from './report';

const text = (bounds: { min: number; max: number }) => ({
  type: 'string',
  minLength: bounds.min,
  maxLength: bounds.max,
});
const integer = (bounds: { min: number; max: number }) => ({
  type: 'integer',
  minimum: bounds.min,
  maximum: bounds.max,
});

/**
 * JSON Schema (draft 2020-12 subset understood by ajv) of report schema 1, bounds exactly as the
 * contract states. No property outside the contract is accepted at any level.
 */
export const reportSchema = {
  $id: 'https://jcs.example/schemas/report-1.json',
  type: 'object',
  additionalProperties: false,
  required: ['schema', 'id', 'occurredAt', 'app', 'license', 'error'],
  properties: {
    schema: { const: 1 },
    id: { type: 'string', pattern: UUID_PATTERN },
    occurredAt: { type: 'string', format: 'date-time', pattern: DATE_TIME_PATTERN, maxLength: 64 },
    app: {
      type: 'object',
      additionalProperties: false,
      required: ['name', 'version'],
      properties: {
        name: text(LIMITS.appName),
        version: { ...text(LIMITS.appVersion), pattern: VERSION_PATTERN },
      },
    },
    license: text(LIMITS.license),
    username: text(LIMITS.username),
    error: {
      type: 'object',
      additionalProperties: false,
      required: ['number', 'description', 'module', 'procedure', 'line'],
      properties: {
        number: integer(LIMITS.errorNumber),
        description: text(LIMITS.description),
        module: text(LIMITS.module),
        procedure: text(LIMITS.procedure),
        line: integer(LIMITS.line),
        code: text(LIMITS.code),
      },
    },
    repeats: integer(LIMITS.repeats),
    dump: {
      type: 'object',
      additionalProperties: false,
      required: ['alg', 'keyId', 'epk', 'nonce', 'ciphertext'],
      properties: {
        alg: { const: DUMP_ALG },
        keyId: text(LIMITS.keyId),
        // base64 of exactly 32 bytes is 43 characters and one '='; of 24 bytes, 32 characters.
        epk: { type: 'string', pattern: '^[A-Za-z0-9+/]{42}[AEIMQUYcgkosw048]=$' },
        nonce: { type: 'string', pattern: '^[A-Za-z0-9+/]{32}$' },
        // at least the 16-byte authenticator; strict base64 with padding
        ciphertext: {
          type: 'string',
          minLength: 24,
          pattern: '^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$',
        },
      },
    },
    dumpWithheld: { enum: ['user-opt-out', 'too-large', 'unserializable'] },
  },
  not: { required: ['dump', 'dumpWithheld'] },
} as const;
