/**
 * `notify()`: posts a run's summary to a webhook, in a Slack-compatible payload.
 *
 * @module
 */

import { failureText } from "./failures.ts";
import type { RunExperimentsSummary } from "./summary.ts";

/** The JSON body posted by {@linkcode notify}. */
export interface NotifyPayload {
  /** Slack's message text: one summary line, then the failures. */
  text: string;
  /** The machine-readable summary. */
  dexp: RunExperimentsSummary;
}

/**
 * The payload for a run summary: `text` (what Slack shows) and `dexp` (the full summary).
 *
 * @param summary The run summary.
 * @returns The payload.
 * @example
 * ```ts
 * import { notifyPayload } from "./notify.ts";
 * import { deepStrictEqual } from "node:assert";
 * const p = notifyPayload({ ok: true, interrupted: false, experiments: [], start: "", end: "" });
 * deepStrictEqual(p.text, "dexp run succeeded: 0 ok, 0 failed, 0 remaining");
 * ```
 */
export function notifyPayload(summary: RunExperimentsSummary): NotifyPayload {
  let ok = 0, failed = 0, remaining = 0;
  for (const e of summary.experiments) {
    ok += e.succeeded;
    failed += e.failed;
    remaining += e.remaining;
  }
  const verdict = summary.interrupted ? "was interrupted" : summary.ok ? "succeeded" : "FAILED";
  const lines = [`dexp run ${verdict}: ${ok} ok, ${failed} failed, ${remaining} remaining`];
  for (const e of summary.experiments) {
    lines.push(`• ${e.experiment} (${e.runDir}): ${e.succeeded}/${e.total} ok, ${e.failed} failed`);
    for (const f of e.failures.slice(0, 20)) {
      lines.push(`    ✗ ${f.name}: ${f.error}`);
      const hosts = f.failures ?? [];
      for (const c of hosts.slice(0, 5)) lines.push(`        ${c.host}: ${failureText(c)}`);
      if (hosts.length > 5) lines.push(`        ... and ${hosts.length - 5} more hosts`);
    }
    if (e.failures.length > 20) lines.push(`    ... and ${e.failures.length - 20} more`);
  }
  return { text: lines.join("\n"), dexp: summary };
}

/**
 * Posts the summary of a run to a webhook (a Slack incoming webhook, or any URL that takes
 * JSON).
 *
 * @param url The webhook URL.
 * @param summary The run summary.
 * @returns Resolves when the server answered with a 2xx status.
 * @throws {Error} If the request fails or the status is not 2xx.
 * @example
 * ```ts ignore
 * import { notify } from "@dexp/dexp";
 * await notify("https://hooks.slack.com/services/...", summary);
 * ```
 */
export async function notify(url: string, summary: RunExperimentsSummary): Promise<void> {
  const res = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(notifyPayload(summary)),
    signal: AbortSignal.timeout(10_000),
  });
  await res.body?.cancel();
  if (!res.ok) throw new Error(`The webhook answered ${res.status} ${res.statusText}`);
}
