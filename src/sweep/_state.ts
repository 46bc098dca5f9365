// The in-memory state of a sweep and the one function that changes it: apply(record).
//
// Replaying the journal and making a new change go through the same apply(), so every process
// that reads the same journal reaches the same state, and a writer only appends a record that
// apply() accepted on the state it had just caught up with under the lock.
//
// The rule for claims and completions (each combination remembers the token of its last claim):
//   C t owner id   accepted if the combination is todo; it becomes inprogress with token t.
//   D/S/F t id     accepted if the combination is inprogress with token t, or todo and
//                  (t is 0, or t is its last claim's token: the claim was reaped but nobody
//                  claimed it again). Rejected if done or skipped, or claimed by someone else
//                  since (its token differs): a presumed-dead worker cannot finish a
//                  combination another worker holds now.
//   X t id         (cancel) accepted if inprogress with token t; back to todo.
//   L owner until  the owner's lease lasts until `until` (ms since the epoch).
//   R owner why    every combination the owner holds goes back to todo (dead or closed).
//   F t reason id  (failed) like S, but the combination is failed, not skipped (format 2).
//   Z what         admin reset: inprogress, skipped, failed or all back to todo.

import type { IdIndex } from "./_id_index.ts";

export const TODO = 0;
export const INPROGRESS = 1;
export const DONE = 2;
export const SKIPPED = 3;
export const FAILED = 4;
/** The number of states. */
export const NSTATES = 5;

export type Rec =
  | { op: "C"; t: number; at: number; owner: string; id: string }
  | { op: "D"; t: number; at: number; id: string }
  | { op: "S"; t: number; at: number; reason: string; id: string }
  | { op: "F"; t: number; at: number; reason: string; id: string }
  | { op: "X"; t: number; at: number; id: string }
  | { op: "L"; at: number; owner: string; until: number }
  | { op: "R"; at: number; owner: string; why: string }
  | { op: "Z"; at: number; what: ResetWhat };

/** What an admin reset puts back to todo. */
export type ResetWhat = "inProgress" | "skipped" | "failed" | "all";

export interface ClaimRec {
  owner: string;
  at: number;
}

export interface OwnerRec {
  lease: number;
  claims: Set<number>;
}

const RING = 1000;

/** Whether a reset of `what` (other than "inProgress") puts a combination in state `s` back. */
function resets(what: ResetWhat, s: number): boolean {
  if (what === "all") return s === SKIPPED || s === FAILED || s === DONE;
  return (what === "skipped" && s === SKIPPED) || (what === "failed" && s === FAILED);
}

export class SweepState {
  readonly index: IdIndex;
  /** Indexes below `known` are the combinations of the current set; the rest only have records. */
  readonly known: number;
  st: Uint8Array;
  tok: Float64Array;
  readonly claims: Map<number, ClaimRec> = new Map();
  readonly reasons: Map<number, string> = new Map();
  readonly owners: Map<string, OwnerRec> = new Map();
  /** Counts of todo, inprogress, done, skipped, failed among the known combinations. */
  readonly counts: number[] = [0, 0, 0, 0, 0];
  nextToken = 1;
  /** Times of the last accepted completions of known combinations (a ring). */
  doneTimes: number[] = [];
  #ringPos = 0;
  created = 0;
  /** Journal lines that failed their checksum or could not be read. */
  badLines = 0;
  #cursor = 0;
  #heap: number[] = [];

  constructor(index: IdIndex) {
    this.index = index;
    this.known = index.size;
    const cap = Math.max(16, index.size);
    this.st = new Uint8Array(cap);
    this.tok = new Float64Array(cap);
    this.counts[TODO] = this.known;
  }

  /** Back to "nothing recorded" (before a full reload); the set of combinations stays. */
  clear(): void {
    this.st.fill(0);
    this.tok.fill(0);
    this.claims.clear();
    this.reasons.clear();
    this.owners.clear();
    this.counts.splice(0, NSTATES, this.known, 0, 0, 0, 0);
    this.nextToken = 1;
    this.doneTimes = [];
    this.#ringPos = 0;
    this.created = 0;
    this.badLines = 0;
    this.#cursor = 0;
    this.#heap = [];
  }

  /** The index of an identity, adding it (as not known) if it is new. */
  indexOf(id: string): number {
    const i = this.index.get(id);
    if (i >= 0) return i;
    const j = this.index.add(id);
    if (j >= this.st.length) {
      const st = new Uint8Array(this.st.length * 2);
      st.set(this.st);
      this.st = st;
      const tok = new Float64Array(this.tok.length * 2);
      tok.set(this.tok);
      this.tok = tok;
    }
    return j;
  }

  owner(key: string): OwnerRec {
    let o = this.owners.get(key);
    if (!o) {
      o = { lease: 0, claims: new Set() };
      this.owners.set(key, o);
    }
    return o;
  }

  #set(i: number, s: number): void {
    const old = this.st[i];
    if (old === s) return;
    this.st[i] = s;
    if (i < this.known) {
      this.counts[old]--;
      this.counts[s]++;
      if (s === TODO && i < this.#cursor) this.#push(i);
    }
  }

  #release(i: number): void {
    const c = this.claims.get(i);
    if (c) {
      this.claims.delete(i);
      this.owners.get(c.owner)?.claims.delete(i);
    }
  }

  pushDoneTime(at: number): void {
    if (this.doneTimes.length < RING) {
      this.doneTimes.push(at);
    } else {
      this.doneTimes[this.#ringPos] = at;
      this.#ringPos = (this.#ringPos + 1) % RING;
    }
  }

  /** The ring in chronological order. */
  orderedDoneTimes(): number[] {
    return [...this.doneTimes.slice(this.#ringPos), ...this.doneTimes.slice(0, this.#ringPos)];
  }

  /** Sets a combination's state directly (loading a snapshot). */
  load(i: number, s: number, t: number, claim: ClaimRec | null, reason: string | null): void {
    this.tok[i] = t;
    if (t >= this.nextToken) this.nextToken = t + 1;
    this.#set(i, s);
    if (s === INPROGRESS && claim) {
      this.claims.set(i, claim);
      this.owner(claim.owner).claims.add(i);
    }
    if ((s === SKIPPED || s === FAILED) && reason !== null) this.reasons.set(i, reason);
  }

  /** Applies one record; returns false if the rule rejects it (and then changes nothing). */
  apply(r: Rec): boolean {
    switch (r.op) {
      case "C": {
        const i = this.indexOf(r.id);
        if (this.st[i] !== TODO) return false;
        this.tok[i] = r.t;
        if (r.t >= this.nextToken) this.nextToken = r.t + 1;
        this.#set(i, INPROGRESS);
        this.claims.set(i, { owner: r.owner, at: r.at });
        this.owner(r.owner).claims.add(i);
        return true;
      }
      case "D":
      case "S":
      case "F": {
        const i = this.indexOf(r.id);
        const s = this.st[i];
        if (s === INPROGRESS) {
          if (this.tok[i] !== r.t) return false;
          this.#release(i);
        } else if (s === TODO) {
          if (r.t !== 0 && this.tok[i] !== r.t) return false;
        } else {
          return false;
        }
        if (r.op === "D") {
          this.#set(i, DONE);
          if (i < this.known) this.pushDoneTime(r.at);
        } else {
          this.#set(i, r.op === "S" ? SKIPPED : FAILED);
          this.reasons.set(i, r.reason);
        }
        return true;
      }
      case "X": {
        const i = this.indexOf(r.id);
        if (this.st[i] !== INPROGRESS || this.tok[i] !== r.t) return false;
        this.#release(i);
        this.#set(i, TODO);
        return true;
      }
      case "L": {
        const o = this.owner(r.owner);
        if (r.until > o.lease) o.lease = r.until;
        return true;
      }
      case "R": {
        const o = this.owners.get(r.owner);
        if (!o) return r.why === "closed";
        for (const i of o.claims) {
          this.claims.delete(i);
          this.#set(i, TODO);
        }
        o.claims.clear();
        if (r.why === "closed") this.owners.delete(r.owner);
        return true;
      }
      case "Z": {
        if (r.what === "inProgress" || r.what === "all") {
          for (const i of this.claims.keys()) this.#set(i, TODO);
          this.claims.clear();
          for (const o of this.owners.values()) o.claims.clear();
        }
        if (r.what !== "inProgress") {
          const n = this.index.size;
          for (let i = 0; i < n; i++) {
            if (resets(r.what, this.st[i])) {
              this.#set(i, TODO);
              this.reasons.delete(i);
            }
          }
        }
        if (r.what === "all") {
          this.doneTimes = [];
          this.#ringPos = 0;
        }
        return true;
      }
    }
  }

  /** How many combinations a reset would put back to todo. */
  affectedByReset(what: ResetWhat): number {
    let n = this.claims.size;
    if (what === "inProgress") return n;
    n = what === "all" ? n : 0;
    const size = this.index.size;
    for (let i = 0; i < size; i++) if (resets(what, this.st[i])) n++;
    return n;
  }

  /** The first todo combination in input order, or -1. Amortized O(log n). */
  pick(): number {
    const heap = this.#heap;
    while (heap.length > 0 && this.st[heap[0]] !== TODO) this.#pop();
    while (this.#cursor < this.known && this.st[this.#cursor] !== TODO) this.#cursor++;
    if (heap.length > 0 && heap[0] < this.#cursor) return heap[0];
    return this.#cursor < this.known ? this.#cursor : -1;
  }

  #push(i: number): void {
    const h = this.#heap;
    h.push(i);
    let k = h.length - 1;
    while (k > 0) {
      const p = (k - 1) >> 1;
      if (h[p] <= h[k]) break;
      [h[p], h[k]] = [h[k], h[p]];
      k = p;
    }
  }

  #pop(): void {
    const h = this.#heap;
    const last = h.pop()!;
    if (h.length === 0) return;
    h[0] = last;
    let k = 0;
    for (;;) {
      const l = 2 * k + 1;
      const r = l + 1;
      let m = k;
      if (l < h.length && h[l] < h[m]) m = l;
      if (r < h.length && h[r] < h[m]) m = r;
      if (m === k) break;
      [h[m], h[k]] = [h[k], h[m]];
      k = m;
    }
  }
}
