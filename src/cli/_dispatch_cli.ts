// The dispatcher's CLI actions, hooked into the pool verbs: `dexp pool serve [DIR]`,
// `dexp machine setup NAME...`, `dexp job log ID [-f]`. Same exit codes as the other pool
// verbs (see _pool_cli.ts); `dexp pool serve` exits 1 when another dispatcher holds the pool.

import { attachJobs } from "../slurm/mod.ts";
import {
  DispatcherBusyError,
  finishSetup,
  openPool,
  setupCommands,
  setupFingerprint,
  startSetup,
} from "../pool/mod.ts";
import { Host } from "../ssh/mod.ts";
import { parsePoolArgs, poolDir, poolGuard, PoolUsageError, print } from "./_pool_cli.ts";

export const SERVE_HELP = `Usage: dexp pool serve [DIR] [options]

Runs the pool's dispatcher: machines' setups and the queue's jobs, as detached jobs on the
machines, until interrupted (Ctrl-C). At most one dispatcher per pool directory; a second one
is refused with the pid and host of the first. Killed and started again, it takes the running
jobs back and collects the ones that ended meanwhile: nothing is lost or run twice.

Options:
      --pool DIR        The pool directory (default: DIR, else $DEXP_POOL)
      --idle            Exit once nothing waits, runs, copies or sets up
      --poll MS         Time between two looks at the pool and the jobs (default 500)
      --quarantine N    Infrastructure failures in a row that quarantine a machine (default 3)
  -q, --quiet           Do not print what happens
  -h, --help            Show this help

Examples:
  dexp pool serve ./lab
  DEXP_POOL=./lab dexp pool serve --idle

Exit status: 0 when stopped or idle, 1 if another dispatcher serves the pool (or the pool
cannot be read), 2 for bad usage.`;

/** `dexp pool serve`. */
export async function serveCli(args: string[]): Promise<number> {
  return await poolGuard("pool serve", async () => {
    const { values: v, positionals } = parsePoolArgs("pool serve", args, {
      idle: { type: "boolean" },
      poll: { type: "string" },
      quarantine: { type: "string" },
      quiet: { type: "boolean", short: "q" },
    });
    if (v.help) {
      console.log(SERVE_HELP);
      return 0;
    }
    if (positionals.length > 1) {
      throw new PoolUsageError("Expected one directory: dexp pool serve DIR");
    }
    const dir = positionals[0] ?? poolDir(v);
    const num = (x: unknown, name: string, dflt: number) => {
      if (x === undefined) return dflt;
      const n = Number(x);
      if (!Number.isInteger(n) || n < 1) {
        throw new PoolUsageError(`--${name} must be a positive integer: received '${x}'`);
      }
      return n;
    };
    const poll = num(v.poll, "poll", 500);
    const quarantineAfter = num(v.quarantine, "quarantine", 3);
    await using pool = await openPool(dir);
    const stop = new AbortController();
    const onSignal = () => stop.abort();
    Deno.addSignalListener("SIGINT", onSignal);
    Deno.addSignalListener("SIGTERM", onSignal);
    try {
      await pool.serve({
        signal: stop.signal,
        poll,
        quarantineAfter,
        until: v.idle ? "idle" : "stopped",
        onEvent: v.quiet ? undefined : (line) => console.log(`${new Date().toISOString()} ${line}`),
      });
    } catch (e) {
      if (e instanceof DispatcherBusyError) {
        console.error(`dexp pool serve: ${e.message}`);
        return 1;
      }
      throw e;
    } finally {
      Deno.removeSignalListener("SIGINT", onSignal);
      Deno.removeSignalListener("SIGTERM", onSignal);
    }
    return 0;
  });
}

/** `dexp machine setup NAME... [--force]`: runs the class's setup now, records the outcome. */
export async function machineSetupCli(args: string[]): Promise<number> {
  return await poolGuard("machine setup", async () => {
    const { values: v, positionals } = parsePoolArgs("machine setup", args, {
      force: { type: "boolean" },
      json: { type: "boolean" },
    });
    if (v.help) {
      console.log(`Usage: dexp machine setup NAME... [--force] [--pool DIR] [--json]

Runs the setup commands of each machine's class on it now (staggered, with the class's
timeout), keeps the log in the pool directory and records the outcome: the machine joins its
class, or stays out with the reason. A machine whose setup fingerprint matches is not set up
again unless --force.

Example:
  dexp machine setup n1 n2 --force

Exit status: 0 if every setup succeeded, 1 if one failed or the pool refused, 2 for bad usage.`);
      return 0;
    }
    if (positionals.length === 0) throw new PoolUsageError("Give at least one machine name");
    await using pool = await openPool(poolDir(v));
    const [classes, machines, vars] = await Promise.all([
      pool.classes(),
      pool.machines(),
      pool.vars(),
    ]);
    const outs = await Promise.all(positionals.map(async (name, i) => {
      const m = machines.find((x) => x.name === name);
      if (!m) {
        throw new PoolUsageError(
          `No machine '${name}' in the pool: it has ${
            machines.map((x) => `'${x.name}'`).join(", ")
          }`,
        );
      }
      const c = classes.find((x) => x.name === m.class)!;
      const sm = { name, host: new Host(m.host), class: m.class, commands: c.setup, vars };
      if (i > 0 && c.stagger) await new Promise((r) => setTimeout(r, i * c.stagger));
      const fp = await setupFingerprint(setupCommands(sm));
      let started;
      try {
        started = await startSetup(sm, { force: Boolean(v.force) });
      } catch (e) {
        await pool.setupFailed(name, { fingerprint: fp, reason: (e as Error).message });
        return { machine: name, status: "failed", reason: (e as Error).message, log: null };
      }
      if (started.skipped) {
        await pool.setupSucceeded(name, { fingerprint: fp });
        return { machine: name, status: "skipped", reason: null, log: null };
      }
      await pool.setupStarted(name, { fingerprint: fp });
      const o = await finishSetup(name, started.ref, fp, {
        logDir: `${pool.dir}/setup-logs`,
        timeout: c.setupTimeout ?? undefined,
      });
      if (o.status === "failed") {
        await pool.setupFailed(name, { fingerprint: fp, log: o.log, reason: o.reason! });
      } else await pool.setupSucceeded(name, { fingerprint: fp, log: o.log });
      return { machine: name, status: o.status, reason: o.reason, log: o.log };
    }));
    if (v.json) await print(JSON.stringify(outs, null, 2));
    else {
      for (const o of outs) {
        console.log(
          `Machine '${o.machine}': setup ${o.status}${o.reason ? `: ${o.reason}` : ""}${
            o.log ? ` (log: ${o.log})` : ""
          }`,
        );
      }
    }
    return outs.some((o) => o.status === "failed") ? 1 : 0;
  });
}

/** `dexp job log ID [-f] [--stderr] [--attempt N]`: the output of a job's (last) attempt. */
export async function jobLogCli(args: string[]): Promise<number> {
  return await poolGuard("job log", async () => {
    const { values: v, positionals } = parsePoolArgs("job log", args, {
      follow: { type: "boolean", short: "f" },
      stderr: { type: "boolean" },
      attempt: { type: "string" },
    });
    if (v.help) {
      console.log(`Usage: dexp job log ID [-f] [--stderr] [--attempt N] [--pool DIR]

Prints the output of a job's last attempt (or attempt N, from 1), read from its machine; -f
follows it until the job ends.

Example:
  dexp job log 12 -f

Exit status: 0 on success, 1 if the job has not started or its output is gone, 2 for bad usage.`);
      return 0;
    }
    if (positionals.length !== 1 || !/^\d+$/.test(positionals[0])) {
      throw new PoolUsageError("Expected one job id: dexp job log ID [-f]");
    }
    await using pool = await openPool(poolDir(v));
    const id = Number(positionals[0]);
    const j = await pool.job(id);
    if (!j) throw new PoolUsageError(`No job ${id} in the pool`);
    const n = v.attempt === undefined ? j.attempts.length : Number(v.attempt);
    const a = j.attempts[n - 1];
    if (!a?.ref) {
      console.error(
        `dexp job log: job ${id} has no started attempt${
          v.attempt ? ` ${n}` : ""
        } (it is ${j.state})`,
      );
      return 1;
    }
    const job = attachJobs(a.ref).jobs[0];
    const stream = v.stderr ? "stderr" : "stdout";
    const out = Deno.stdout.writable.getWriter();
    try {
      if (v.follow) {
        for await (const chunk of job.follow({ stream })) await out.write(chunk);
      } else {
        let from = 0;
        while (true) {
          const c = await job.output({ from, stream });
          if (c.data.length) await out.write(c.data);
          from = c.next;
          if (c.next >= c.size || c.data.length === 0) break;
        }
      }
    } catch (e) {
      console.error(`dexp job log: ${(e as Error).message}`);
      return 1;
    } finally {
      out.releaseLock();
    }
    return 0;
  });
}
