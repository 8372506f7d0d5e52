/**
 * Per-group flood control. An error in a loop must not turn the host into a denial-of-service on
 * the collector (nor fill the queue): the first `maxPerGroup` reports of a group in a window go
 * out; the rest are only counted, and the count rides on the next report of that group as
 * `repeats`, or on a carrier report when the window ends or at flush/close.
 */
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
  | { allowed: false; first: boolean; carrierId: string };

/** A group's held-back occurrences, ready to go out as one report. */
export interface HeldBack<S> {
  /** the latest held-back occurrence (the reporter builds its carrier from the first, when held back) */
  sample: S;
  /** occurrences besides the sample: the carrier's `repeats` */
  repeats: number;
  /** the id the carrier goes out under: the one its occurrences were answered with */
  carrierId: string;
}

interface GroupState<S> {
  windowStart: number;
  sent: number;
  held: number;
  sample: S | null;
  carrierId: string | null;
}

export class FloodLimiter<S> {
  private readonly groups = new Map<string, GroupState<S>>();
  private readonly now: () => number;
  private readonly maxGroups: number;

  constructor(private readonly options: FloodOptions) {
    this.now = options.now ?? Date.now;
    this.maxGroups = options.maxGroups ?? 1000;
  }

  /**
   * Whether an occurrence of `group` goes out now. When it does, `repeats` is the count held back
   * since the group last went out; when it does not, `sample` is kept for a later carrier.
   * Evicted groups' counts are handed to `evicted`, so a flood of distinct groups loses nothing.
   */
  admit(group: string, id: string, sample: S, evicted: (held: HeldBack<S>) => void): Admission {
    const now = this.now();
    let state = this.groups.get(group);
    if (!state) {
      if (this.groups.size >= this.maxGroups) this.evictOne(now, evicted);
      state = { windowStart: now, sent: 0, held: 0, sample: null, carrierId: null };
      this.groups.set(group, state);
    } else if (now - state.windowStart >= this.options.windowMs) {
      state.windowStart = now;
      state.sent = 0;
    }
    if (state.sent < this.options.maxPerGroup) {
      state.sent++;
      const repeats = state.held;
      // The held-back occurrences were answered with the carrier's id: this report is it.
      const carrierId = state.carrierId ?? undefined;
      state.held = 0;
      state.sample = null;
      state.carrierId = null;
      return { allowed: true, repeats, carrierId };
    }
    state.held++;
    state.sample = sample;
    state.carrierId ??= id;
    return { allowed: false, first: state.held === 1, carrierId: state.carrierId };
  }

  /** Groups whose window has ended with occurrences still held back (or all, with `all`). */
  drain(all: boolean): HeldBack<S>[] {
    const now = this.now();
    const out: HeldBack<S>[] = [];
    for (const [group, state] of this.groups) {
      if (state.held === 0 || state.sample === null || state.carrierId === null) {
        if (now - state.windowStart >= this.options.windowMs) this.groups.delete(group);
        continue;
      }
      if (!all && now - state.windowStart < this.options.windowMs) continue;
      out.push({ sample: state.sample, repeats: state.held - 1, carrierId: state.carrierId });
      if (now - state.windowStart >= this.options.windowMs) {
        // The carrier counts as this group's first report of a new window.
        state.windowStart = now;
        state.sent = 1;
      } else {
        // Drained early (flush): the window goes on, the carrier one more report in it, so a
        // host that flushes after every report in a loop still has its occurrences held back.
        state.sent++;
      }
      state.held = 0;
      state.sample = null;
      state.carrierId = null;
    }
    return out;
  }

  /** Milliseconds until the earliest window with held-back occurrences ends; null when none. */
  nextDrainIn(): number | null {
    const now = this.now();
    let soonest: number | null = null;
    for (const state of this.groups.values()) {
      if (state.held === 0) continue;
      const due = Math.max(0, state.windowStart + this.options.windowMs - now);
      soonest = soonest === null ? due : Math.min(soonest, due);
    }
    return soonest;
  }

  /** Every group holding occurrences back, as it stands: its carrier's id and `repeats` so far. */
  holding(): { carrierId: string; repeats: number }[] {
    const out: { carrierId: string; repeats: number }[] = [];
    for (const state of this.groups.values()) {
      if (state.held > 0 && state.carrierId !== null) {
        out.push({ carrierId: state.carrierId, repeats: state.held - 1 });
      }
    }
    return out;
  }

  get heldBack(): number {
    let n = 0;
    for (const state of this.groups.values()) n += state.held;
    return n;
  }

  private evictOne(now: number, evicted: (held: HeldBack<S>) => void): void {
    for (const [group, state] of this.groups) {
      if (state.held === 0 && now - state.windowStart >= this.options.windowMs) {
        this.groups.delete(group);
        return;
      }
    }
    // Maps iterate in insertion order: the first is the oldest group.
    const [group, state] = this.groups.entries().next().value as [string, GroupState<S>];
    this.groups.delete(group);
    if (state.held > 0 && state.sample !== null && state.carrierId !== null) {
      evicted({ sample: state.sample, repeats: state.held - 1, carrierId: state.carrierId });
    }
  }
}
