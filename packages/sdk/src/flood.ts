/**
 * Per-group flood control. An error in a loop must not turn the host into a denial-of-service on
 * the collector (nor fill the queue): the first `maxPerGroup` reports of a group in a window go
 * out; the rest are only counted, by line (MAX_LINES_HELD), and each line's count rides on the
 * next report of that group and line as `repeats`, or on a carrier report of that line when the
 * window ends or at flush/close.
 */
import { monotonicNow } from './clock';

export interface FloodOptions {
  maxPerGroup: number;
  windowMs: number;
  /** injectable for tests */
  now?: () => number;
  /** most groups tracked at once; beyond it the oldest group's count is handed over early */
  maxGroups?: number;
}

/**
 * `carrierId`: the id of the report that will carry this occurrence, so the id `report()` returns
 * for it is one the collector will have. Absent when the occurrence goes out as itself.
 */
export type Admission =
  | { allowed: true; repeats: number; carrierId?: string }
  | { allowed: false; first: boolean; carrierId: string; repeats: number };

/** A group's held-back occurrences of one line, ready to go out as one report. */
export interface HeldBack<S> {
  /** the latest held-back occurrence (the reporter builds its carrier from the first, when held back) */
  sample: S;
  /** occurrences besides the sample: the carrier's `repeats` */
  repeats: number;
  /** the id the carrier goes out under: the one its occurrences were answered with */
  carrierId: string;
}

/** The held-back occurrences of one line of a group: they go out as one carrier. */
interface Held<S> {
  held: number;
  sample: S;
  carrierId: string;
}

interface GroupState<S> {
  windowStart: number;
  sent: number;
  /** times flush() has sent this group's held-back occurrences before its window ended */
  early: number;
  /** by line, at most MAX_LINES_HELD */
  lines: Map<string, Held<S>>;
}

/**
 * Lines of one group held back apart, each with its own carrier: a report's `repeats` are
 * identical occurrences (contract section 1), counted at its line, so occurrences of another line
 * folded in would move in the group's by-line breakdown. Past this many lines in one window, an
 * occurrence is counted with the group's first held-back line instead: a loop over many lines
 * still sends only a few carriers ("at most a few reports per group per minute").
 */
export const MAX_LINES_HELD = 3;

/**
 * Which held-back occurrences a drain sends: `due`, those whose window has ended; `flush`, those
 * too and each group's others, but no group's more than `maxPerGroup` times a window (a host that
 * flushes after every report in a loop would otherwise send every occurrence as a carrier of its
 * own); `all`, every one (close, exit).
 */
export type DrainMode = 'due' | 'flush' | 'all';

export class FloodLimiter<S> {
  private readonly groups = new Map<string, GroupState<S>>();
  private readonly now: () => number;
  private readonly maxGroups: number;

  constructor(private readonly options: FloodOptions) {
    this.now = options.now ?? monotonicNow;
    this.maxGroups = options.maxGroups ?? 1000;
  }

  /**
   * Whether an occurrence of `group` goes out now. When it does, `repeats` is the count of its
   * line held back since; when it does not, `sample` is kept for a later carrier (the line's
   * latest). Evicted groups' counts are handed to `evicted`, so a flood of distinct groups loses
   * nothing.
   *
   * @example
   * const a = flood.admit('91\u0000modClients\u0000LoadClient', id, sample, storeCarrier, '120');
   * if (!a.allowed) return a.carrierId; // the id the error dialog quotes
   */
  admit(
    group: string,
    id: string,
    sample: S,
    evicted: (held: HeldBack<S>) => void,
    line = '',
  ): Admission {
    const now = this.now();
    let state = this.groups.get(group);
    if (!state) {
      if (this.groups.size >= this.maxGroups) this.evictOne(now, evicted);
      state = { windowStart: now, sent: 0, early: 0, lines: new Map() };
      this.groups.set(group, state);
    } else if (now - state.windowStart >= this.options.windowMs) {
      state.windowStart = now;
      state.sent = 0;
      state.early = 0;
    }
    if (state.sent < this.options.maxPerGroup) {
      state.sent++;
      // The line's held-back occurrences were answered with its carrier's id: this report is it.
      const held = state.lines.get(line);
      if (!held) return { allowed: true, repeats: 0, carrierId: undefined };
      state.lines.delete(line);
      return { allowed: true, repeats: held.held, carrierId: held.carrierId };
    }
    let held = state.lines.get(line);
    if (!held && state.lines.size >= MAX_LINES_HELD) held = state.lines.values().next().value;
    if (!held) {
      held = { held: 0, sample, carrierId: id };
      state.lines.set(line, held);
    }
    held.held++;
    held.sample = sample;
    return {
      allowed: false,
      first: held.held === 1,
      carrierId: held.carrierId,
      repeats: held.held - 1,
    };
  }

  /**
   * The held-back occurrences `mode` sends, each line's as one carrier.
   *
   * @example
   * for (const held of flood.drain('due')) storeCarrier(held); // windows that have ended
   */
  drain(mode: DrainMode): HeldBack<S>[] {
    const now = this.now();
    const out: HeldBack<S>[] = [];
    for (const [group, state] of this.groups) {
      const ended = now - state.windowStart >= this.options.windowMs;
      if (state.lines.size === 0) {
        if (ended) this.groups.delete(group);
        continue;
      }
      if (!ended) {
        if (mode === 'due') continue;
        if (mode === 'flush' && state.early >= this.options.maxPerGroup) continue;
      }
      for (const held of state.lines.values()) out.push(carried(held));
      if (ended) {
        // The carriers count as this group's first reports of a new window.
        state.windowStart = now;
        state.sent = state.lines.size;
        state.early = 0;
      } else {
        // Drained early: the window goes on, the carriers more reports in it, so a host that
        // flushes after every report in a loop still has its occurrences held back.
        state.sent += state.lines.size;
        state.early++;
      }
      state.lines.clear();
    }
    return out;
  }

  /** Milliseconds until the earliest window with held-back occurrences ends; null when none. */
  nextDrainIn(): number | null {
    const now = this.now();
    let soonest: number | null = null;
    for (const state of this.groups.values()) {
      if (state.lines.size === 0) continue;
      const due = Math.max(0, state.windowStart + this.options.windowMs - now);
      soonest = soonest === null ? due : Math.min(soonest, due);
    }
    return soonest;
  }

  /** Every carrier of held-back occurrences, as it stands: its id and `repeats` so far. */
  holding(): { carrierId: string; repeats: number }[] {
    const out: { carrierId: string; repeats: number }[] = [];
    for (const state of this.groups.values()) {
      for (const held of state.lines.values()) {
        out.push({ carrierId: held.carrierId, repeats: held.held - 1 });
      }
    }
    return out;
  }

  get heldBack(): number {
    let n = 0;
    for (const state of this.groups.values()) {
      for (const held of state.lines.values()) n += held.held;
    }
    return n;
  }

  private evictOne(now: number, evicted: (held: HeldBack<S>) => void): void {
    for (const [group, state] of this.groups) {
      if (state.lines.size === 0 && now - state.windowStart >= this.options.windowMs) {
        this.groups.delete(group);
        return;
      }
    }
    // Maps iterate in insertion order: the first is the oldest group.
    const [group, state] = this.groups.entries().next().value as [string, GroupState<S>];
    this.groups.delete(group);
    for (const held of state.lines.values()) evicted(carried(held));
  }
}

function carried<S>(held: Held<S>): HeldBack<S> {
  return { sample: held.sample, repeats: held.held - 1, carrierId: held.carrierId };
}
