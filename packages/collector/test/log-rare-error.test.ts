import { createLogger, rareError } from '../src/log';

describe('rareError', () => {
  it('logs the first at once, then at most one a minute, saying how many were left out', () => {
    const lines: Record<string, unknown>[] = [];
    const log = createLogger({ destination: { write: (l: string) => lines.push(JSON.parse(l)) } });
    let now = 1_000_000;
    const failed = rareError(log, 'access log head mark not written', 60_000, () => now);
    for (let i = 0; i < 135; i++) failed(new Error('EACCES: permission denied'));
    now += 59_999;
    failed(new Error('EACCES: permission denied'));
    now += 1;
    failed(new Error('EROFS: read-only file system'));
    now += 60_000;
    failed(new Error('EROFS: read-only file system'));
    expect(lines.map(({ msg, err, repeats, level }) => ({ msg, err, repeats, level }))).toEqual([
      {
        msg: 'access log head mark not written',
        err: 'EACCES: permission denied',
        repeats: undefined,
        level: 50,
      },
      {
        msg: 'access log head mark not written',
        err: 'EROFS: read-only file system',
        repeats: 135,
        level: 50,
      },
      {
        msg: 'access log head mark not written',
        err: 'EROFS: read-only file system',
        repeats: undefined,
        level: 50,
      },
    ]);
  });

  it('says the count left out when the minute ends, even when no more come', () => {
    jest.useFakeTimers();
    try {
      const lines: Record<string, unknown>[] = [];
      const log = createLogger({
        destination: { write: (l: string) => lines.push(JSON.parse(l)) },
      });
      const failed = rareError(log, 'access log head mark not written', 60_000, () => Date.now());
      for (let i = 0; i < 6; i++) failed(new Error('EACCES: permission denied'));
      expect(lines).toHaveLength(1);
      jest.advanceTimersByTime(59_000);
      expect(lines).toHaveLength(1);
      jest.advanceTimersByTime(1_000);
      expect(lines.map(({ err, repeats }) => ({ err, repeats }))).toEqual([
        { err: 'EACCES: permission denied', repeats: undefined },
        { err: 'EACCES: permission denied', repeats: 5 },
      ]);
      // and nothing more while nothing fails
      jest.advanceTimersByTime(600_000);
      expect(lines).toHaveLength(2);
    } finally {
      jest.useRealTimers();
    }
  });

  it('flush says a count still left out, at once (a closing collector), and cancels the timer', () => {
    const lines: Record<string, unknown>[] = [];
    const log = createLogger({ destination: { write: (l: string) => lines.push(JSON.parse(l)) } });
    let now = 0;
    const failed = rareError(log, 'access log head mark not written', 60_000, () => now);
    failed.flush(); // nothing yet: nothing said
    for (let i = 0; i < 4; i++) failed(new Error('EROFS'));
    now += 1_000;
    failed.flush();
    failed.flush(); // said once
    expect(lines.map(({ repeats }) => repeats)).toEqual([undefined, 3]);
  });
});
