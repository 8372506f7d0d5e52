import fs from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { createReporter, type Diagnostic } from '../src';
import { checkQueueDirTrust } from '../src/queue/dir-trust';
import { QUEUE_KEY_FILE } from '../src/queue/queue-key';
import { cleanupTempDirs, optionsFor, queuedReports, tempDir } from './helpers/fixtures';
import { deadEndpoint } from './helpers/host';

/**
 * A queue folder another user could write (a shared or world-writable queueDir) must not hand
 * them the key every report is sealed under. POSIX only: Windows folders go by their ACLs.
 */
afterAll(cleanupTempDirs);

const posix = process.platform !== 'win32';
const uid = process.getuid?.() ?? 0;
const mode = (file: string) => fs.statSync(file).mode & 0o777;

/** One report by a reporter on `dir`, closed at once: its diagnostics. */
async function reportOnce(dir: string): Promise<Diagnostic[]> {
  const diagnostics: Diagnostic[] = [];
  const r = createReporter(
    optionsFor(
      { url: await deadEndpoint(), token: 't', publicKey: randomBytes(32).toString('base64') },
      diagnostics,
      { queueDir: dir },
    ),
  );
  r.report({ description: 'x' });
  await r.close(0);
  return diagnostics;
}

(posix ? describe : describe.skip)("the queue folder is this user's alone", () => {
  it("makes a loose folder, its queue folders and its key this user's alone, and keeps sending", async () => {
    const dir = path.join(tempDir(), 'queue');
    fs.mkdirSync(dir);
    fs.chmodSync(dir, 0o777);
    fs.mkdirSync(path.join(dir, 'pending'));
    fs.chmodSync(path.join(dir, 'pending'), 0o777);
    fs.writeFileSync(path.join(dir, QUEUE_KEY_FILE), randomBytes(32));
    fs.chmodSync(path.join(dir, QUEUE_KEY_FILE), 0o666);
    const diagnostics = await reportOnce(dir);
    expect(diagnostics.filter((d) => d.code === 'queue_unavailable')).toEqual([]);
    expect(mode(dir)).toBe(0o700);
    expect(mode(path.join(dir, 'pending'))).toBe(0o700);
    expect(mode(path.join(dir, QUEUE_KEY_FILE))).toBe(0o600);
    expect(queuedReports(dir)).toHaveLength(1);
  });

  it("refuses a folder, a key or a queue folder of another user's, and the reporter keeps reports in memory", async () => {
    for (const planted of ['', QUEUE_KEY_FILE, 'pending']) {
      const dir = path.join(tempDir(), 'queue');
      fs.mkdirSync(path.join(dir, 'pending'), { recursive: true });
      fs.writeFileSync(path.join(dir, QUEUE_KEY_FILE), randomBytes(32), { mode: 0o600 });
      const file = path.join(dir, planted);
      // Root makes it another user's; anyone else has the check told it is uid + 1.
      if (uid === 0) fs.chownSync(file, 65534, 65534);
      const [owner, me] = uid === 0 ? [65534, 0] : [uid, uid + 1];
      expect(() => checkQueueDirTrust(dir, me)).toThrow(
        `${file} belongs to another user (uid ${owner}) who could read or plant the queue's reports: give queueDir a folder of this user's own`,
      );
    }
    // Only the folder named is checked against this user: a fresh folder passes.
    expect(() => checkQueueDirTrust(path.join(tempDir(), 'none'), uid)).not.toThrow();
  });

  it("takes root's folders where only root could write them, not where others could", () => {
    if (uid !== 0) return; // only root can make root's files here; the rule is the same
    const dir = path.join(tempDir(), 'queue');
    fs.mkdirSync(dir, { mode: 0o755 });
    fs.chmodSync(dir, 0o755);
    expect(() => checkQueueDirTrust(dir, 1000)).not.toThrow();
    fs.chmodSync(dir, 0o777);
    expect(() => checkQueueDirTrust(dir, 1000)).toThrow(/belongs to another user \(uid 0\)/);
  });

  it('a reporter on a folder another user owns says why it keeps reports in memory', async () => {
    if (uid !== 0) return; // chown needs root; the check itself is covered above
    const dir = path.join(tempDir(), 'queue');
    fs.mkdirSync(dir, { mode: 0o777 });
    fs.chmodSync(dir, 0o777);
    fs.chownSync(dir, 65534, 65534);
    const diagnostics = await reportOnce(dir);
    expect(diagnostics[0]).toMatchObject({ code: 'queue_unavailable' });
    expect(diagnostics[0].message).toBe(
      'the queue directory cannot be used (QueueDirTrustError QUEUE_DIR_NOT_OWN); reports are held in memory for this run',
    );
    expect(fs.existsSync(path.join(dir, QUEUE_KEY_FILE))).toBe(false);
  });
});
