import { EXIT, type ExitCode } from '@jcs/protocol';

export { EXIT, type ExitCode };

/**
 * A failure the user can act on: its message is the one line printed on stderr, so it says what
 * happened and what to do; its exit code is the contract's.
 *
 * @example
 * throw new UsageError('--limit takes a whole number from 1 to 500, not "x"');
 */
export class CliError extends Error {
  readonly exitCode: ExitCode;

  constructor(message: string, exitCode: ExitCode, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.exitCode = exitCode;
  }
}

/** A bad command line: an unknown option, a value out of range, an ambiguous group prefix. */
export class UsageError extends CliError {
  constructor(message: string) {
    super(message, EXIT.usage);
  }
}

/** No answer: connection refused, DNS failure, TLS refused, timeout. */
export class UnreachableError extends CliError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, EXIT.failed, options);
  }
}

/** 401: no token, or one the collector does not know (or revoked). */
export class UnauthorisedError extends CliError {
  constructor(message: string) {
    super(message, EXIT.notAuthorised);
  }
}

/** 403: the token is valid but its role may not do this. */
export class ForbiddenError extends CliError {
  constructor(message: string) {
    super(message, EXIT.notAuthorised);
  }
}

/** 404: no such group, report or route. Commands replace the message with a specific one. */
export class NotFoundError extends CliError {
  constructor(message: string) {
    super(message, EXIT.notFound);
  }
}

/**
 * 400: the collector rejected what we sent. The CLI validates options first, so this means an
 * option the collector reads differently; it is still the user's input, hence a usage error.
 */
export class BadRequestError extends CliError {
  constructor(message: string) {
    super(message, EXIT.usage);
  }
}

/** 5xx, 429, or an answer that is not the collector's JSON. */
export class ServerError extends CliError {
  readonly status: number;

  constructor(message: string, status: number) {
    super(message, EXIT.failed);
    this.status = status;
  }
}
