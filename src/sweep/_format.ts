// Text encoding of journal records, snapshots and the combinations file (format version 2).
//
// Format 2 adds the failed state: "F" records, "Z failed", and state 4 in snapshot entries.
// Everything else is format 1, which this version still reads. A directory stays in format 1
// (readable by older dexp) until its first record that format 1 cannot hold: then its journal
// is compacted into format 2 first, so an older dexp refuses it instead of misreading it.
//
// journal:   "dexp-sweep-journal\t1\t<epoch>\t<created ms>\n", then one record per line:
//            fields separated by tabs, the last field an 8-hex-digit FNV-1a checksum of the
//            rest of the line. Identities (canonical JSON) never hold a raw tab or newline.
//              C <token> <at> <owner> <id>        claim
//              D <token> <at> <id>                done
//              S <token> <at> <reason JSON> <id>  skipped
//              F <token> <at> <reason JSON> <id>  failed (format 2)
//              X <token> <at> <id>                cancel (back to todo)
//              L <at> <owner> <lease until>       lease renewal
//              R <at> <owner> <why>               the owner's claims go back to todo
//              Z <at> <inprogress|skipped|failed|all>    admin reset ("failed": format 2)
// snapshot:  "dexp-sweep-snapshot\t1\t<meta JSON>\n", then
//              E <state 0-4> <token> <owner or -> <claimed at> <reason JSON or -> <id>
//              O <owner> <lease until>
//            and "end\t<number of E lines>\n". meta.covers = {epoch, offset}: the journal
//            position the snapshot includes.
// combos:    "dexp-sweep-combos\t1\t<count>\t<set hash>\n", then one identity per line (its
//            format is still 1).

import { checksum } from "./_hash.ts";
import type { Rec, ResetWhat } from "./_state.ts";

export const FORMAT_VERSION = 2;
/** The format of the combinations file, unchanged since format 1. */
export const COMBOS_VERSION = 1;
export const JOURNAL_MAGIC = "dexp-sweep-journal";
export const SNAPSHOT_MAGIC = "dexp-sweep-snapshot";
export const COMBOS_MAGIC = "dexp-sweep-combos";

export function encodeRec(r: Rec): string {
  let body: string;
  switch (r.op) {
    case "C":
      body = `C\t${r.t}\t${r.at}\t${r.owner}\t${r.id}`;
      break;
    case "D":
    case "X":
      body = `${r.op}\t${r.t}\t${r.at}\t${r.id}`;
      break;
    case "S":
    case "F":
      body = `${r.op}\t${r.t}\t${r.at}\t${JSON.stringify(r.reason)}\t${r.id}`;
      break;
    case "L":
      body = `L\t${r.at}\t${r.owner}\t${r.until}`;
      break;
    case "R":
      body = `R\t${r.at}\t${r.owner}\t${r.why}`;
      break;
    case "Z":
      // The on-disk token is "inprogress" (journals written before the rename stay readable).
      body = `Z\t${r.at}\t${r.what === "inProgress" ? "inprogress" : r.what}`;
      break;
  }
  return body + "\t" + checksum(body) + "\n";
}

function num(s: string | undefined): number {
  const n = Number(s);
  if (s === undefined || s === "" || !Number.isFinite(n)) throw new SyntaxError("bad number");
  return n;
}

/** Decodes one line (without its newline); undefined if it is damaged or unknown. */
export function decodeRec(line: string): Rec | undefined {
  const cut = line.lastIndexOf("\t");
  if (cut < 0) return undefined;
  const body = line.slice(0, cut);
  if (checksum(body) !== line.slice(cut + 1)) return undefined;
  const f = body.split("\t");
  try {
    switch (f[0]) {
      case "C":
        return { op: "C", t: num(f[1]), at: num(f[2]), owner: f[3], id: f.slice(4).join("\t") };
      case "D":
      case "X":
        return { op: f[0], t: num(f[1]), at: num(f[2]), id: f.slice(3).join("\t") };
      case "S":
      case "F":
        return {
          op: f[0],
          t: num(f[1]),
          at: num(f[2]),
          reason: String(JSON.parse(f[3])),
          id: f.slice(4).join("\t"),
        };
      case "L":
        return { op: "L", at: num(f[1]), owner: f[2], until: num(f[3]) };
      case "R":
        return { op: "R", at: num(f[1]), owner: f[2], why: f[3] ?? "" };
      case "Z": {
        if (
          f[2] !== "inprogress" && f[2] !== "skipped" && f[2] !== "failed" && f[2] !== "all"
        ) return undefined;
        const what: ResetWhat = f[2] === "inprogress" ? "inProgress" : f[2];
        return { op: "Z", at: num(f[1]), what };
      }
      default:
        return undefined;
    }
  } catch {
    return undefined;
  }
}

/** Whether format 1 cannot hold the record. */
export function needsFormat2(r: Rec): boolean {
  return r.op === "F" || (r.op === "Z" && r.what === "failed");
}

export function journalHeader(epoch: number, created: number, version = 1): string {
  return `${JOURNAL_MAGIC}\t${version}\t${epoch}\t${created}\n`;
}

export interface JournalHeader {
  version: number;
  epoch: number;
  created: number;
  length: number;
}

export function parseJournalHeader(line: string): JournalHeader | undefined {
  const f = line.split("\t");
  if (f[0] !== JOURNAL_MAGIC || f.length < 4) return undefined;
  const version = Number(f[1]);
  const epoch = Number(f[2]);
  const created = Number(f[3]);
  if (![version, epoch, created].every(Number.isFinite)) return undefined;
  // Headers are ASCII: their length in bytes is their length in characters.
  return { version, epoch, created, length: line.length + 1 };
}

export interface SnapshotMeta {
  covers: { epoch: number; offset: number };
  nextToken: number;
  created: number;
  doneTimes: number[];
  badLines: number;
}
