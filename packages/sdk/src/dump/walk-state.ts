import type { Redactor } from './redact';

/** The state of one walk over a dump's value: its bounds, and what it has spent of them. */
export interface WalkState {
  redactor: Redactor;
  maxDepth: number;
  maxBreadth: number;
  maxString: number;
  /** JSON characters still allowed, counted so as never to exceed the text's true length */
  budget: number;
  /** values still allowed: the guard on time spent walking huge data */
  nodes: number;
  /** something was left out or cut */
  truncated: boolean;
  /** give up at the first thing left out for room: the whole-data attempt, before cutting */
  stopOnOverflow: boolean;
  /** the value itself, not something inside it, could not be described */
  rootFailed: boolean;
  ancestors: Set<object>;
  /**
   * A wide object's keys, listed once for every attempt: V8 lists an object's keys whole (some
   * 0.3 microseconds a key), so an object of millions of keys cost that on every walk.
   */
  keysOf: WeakMap<object, string[]>;
}

/** Thrown to end a whole-data attempt at once: what it would make is thrown away anyway. */
export const OVERFLOW = Symbol('overflow');

/** Records a cut made for room, and ends the attempt there when it may not cut. */
export function overflow(state: WalkState): void {
  state.truncated = true;
  if (state.stopOnOverflow) throw OVERFLOW;
}

/**
 * Ends a whole-data attempt before walking a container whose smallest JSON text (`chars`) is over
 * the budget left: a million-item array is known not to fit without a step through it.
 */
export function cannotFit(state: WalkState, chars: number): void {
  if (state.stopOnOverflow && chars > state.budget) overflow(state);
}

/** Out of room: a container stops and says how much it left out, rather than cut each item. */
export function exhausted(state: WalkState): boolean {
  if (state.budget > 0 && state.nodes > 0) return false;
  overflow(state);
  return true;
}

/** Counts `chars` of JSON text against the walk's budget. */
export function spend(state: WalkState, chars: number): void {
  state.budget -= chars;
}

/** `f()`, or `fallback` when it throws (a getter of the host's, a revoked Proxy). */
export function safe<T>(f: () => T, fallback: T): T {
  try {
    return f();
  } catch {
    return fallback;
  }
}
