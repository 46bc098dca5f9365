/**
 * `dexp pool init|class|show`: make a pool directory, define its classes, look at it.
 *
 * @module
 */

import {
  initPool,
  type InitPoolOptions,
  type JobState,
  type PoolClass,
  type PoolClassInput,
} from "../pool/mod.ts";
import {
  keyValues,
  openFromArgs,
  parsePoolArgs,
  poolGuard,
  PoolUsageError,
  print,
  table,
} from "./_pool_cli.ts";
import type { Verb } from "./verb.ts";

const HELP = `Usage: dexp pool <action> [options] ...

A pool is a directory that holds machines in classes and a queue of jobs. Every dexp command
reads and changes it (no daemon needed); one dispatcher runs the jobs. The pool verbs find it
with --pool DIR, or the environment variable DEXP_POOL=DIR.

Actions:
  init DIR                 Make a pool directory
  class add NAME           Define a class (or change its definition)
  class ls                 List the classes
  show                     Classes, machines and jobs per state, in short
  serve [DIR]              Run the dispatcher (dexp pool serve --help)

Options of init:
      --class NAME[:SLOTS]   A class with a slot count (cpu:4) or named slots (gpu:0,1); repeatable
      --var K=V              A pool variable, {K} in setup and job commands; repeatable
      --config FILE          Classes and variables from a JSON file:
                             {"classes": [{"name": "gpu", "slots": ["0","1"], ...}], "vars": {}}
Options of class add:
      --slots N|A,B,...      A slot count (default 1) or named slots (GPU ids, NUMA nodes)
      --env K=V              A per-slot environment variable, e.g. CUDA_VISIBLE_DEVICES={slot}
      --prefix CMD           A per-slot command prefix, e.g. 'numactl -N {slot}'
      --setup CMD            A setup command ({host}, {class}, pool variables); repeatable
      --setup-timeout D      Time limit of a machine's setup (e.g. 10m)
      --stagger D            Time between the starts of two machines' setups (e.g. 2s)
Common options:
      --pool DIR             The pool directory (default: $DEXP_POOL)
      --json                 Print JSON
  -h, --help                 Show this help

Examples:
  dexp pool init ./lab --class cpu:4 --class gpu:0,1
  export DEXP_POOL=./lab
  dexp pool class add gpu --slots 0,1 --env CUDA_VISIBLE_DEVICES={slot} \\
      --setup 'pip install -r ~/exp/requirements.txt' --setup-timeout 10m
  dexp pool show --json

Exit status: 0 on success, 1 if the pool refused or could not be read or written
(e.g. 'DIR' holds a pool already, a newer format), 2 for bad usage or bad input.`;

function parseClassArg(text: string): PoolClassInput {
  const colon = text.indexOf(":");
  if (colon < 0) return { name: text };
  const name = text.slice(0, colon);
  return { name, slots: parseSlots(text.slice(colon + 1), name) };
}

function parseSlots(text: string, cls: string): number | string[] {
  if (/^\d+$/.test(text)) return Number(text);
  if (text === "") {
    throw new PoolUsageError(
      `Class '${cls}' has no slots after ':': give a count or names (gpu:0,1)`,
    );
  }
  return text.split(",");
}

async function readConfig(file: string): Promise<InitPoolOptions> {
  let text: string;
  try {
    text = await Deno.readTextFile(file);
  } catch (e) {
    throw new PoolUsageError(`Cannot read the config file '${file}': ${(e as Error).message}`);
  }
  try {
    const c = JSON.parse(text);
    if (typeof c !== "object" || c === null || Array.isArray(c)) throw new Error("not an object");
    return { classes: c.classes ?? [], vars: c.vars ?? {} };
  } catch (e) {
    throw new PoolUsageError(
      `The config file '${file}' is not valid JSON of the form {"classes": [...], "vars": {...}}: ${
        (e as Error).message
      }`,
    );
  }
}

function classRow(c: PoolClass): string[] {
  return [
    c.name,
    typeof c.slots === "number" ? String(c.slots) : c.slots.join(","),
    Object.entries(c.env).map(([k, v]) => `${k}=${v}`).join(" "),
    c.prefix ?? "",
    String(c.setup.length),
  ];
}

async function run(args: string[]): Promise<number> {
  if (args[0] === "serve") {
    return await (await import("./_dispatch_cli.ts")).serveCli(args.slice(1));
  }
  return await poolGuard("pool", async () => {
    const { values: v, positionals } = parsePoolArgs("pool", args, {
      class: { type: "string", multiple: true },
      var: { type: "string", multiple: true },
      config: { type: "string" },
      slots: { type: "string" },
      env: { type: "string", multiple: true },
      prefix: { type: "string" },
      setup: { type: "string", multiple: true },
      "setup-timeout": { type: "string" },
      stagger: { type: "string" },
      json: { type: "boolean" },
    });
    if (v.help) {
      console.log(HELP);
      return 0;
    }
    const [action, ...rest] = positionals;
    switch (action) {
      case "init": {
        if (rest.length !== 1) {
          throw new PoolUsageError("Expected one directory: dexp pool init DIR");
        }
        const options = v.config ? await readConfig(v.config as string) : {};
        const classes = [
          ...(options.classes ?? []),
          ...((v.class as string[] | undefined) ?? []).map(parseClassArg),
        ];
        const vars = { ...options.vars, ...keyValues((v.var as string[]) ?? [], "--var") };
        const pool = await initPool(rest[0], { classes, vars });
        try {
          const cs = await pool.classes();
          if (v.json) await print(JSON.stringify({ dir: rest[0], classes: cs }, null, 2));
          else {
            console.log(
              `Made the pool '${rest[0]}' with ${cs.length} class(es)${
                cs.length ? ": " + cs.map((c) => c.name).join(", ") : ""
              }; use it with --pool ${rest[0]} or DEXP_POOL=${rest[0]}`,
            );
          }
        } finally {
          await pool.close();
        }
        return 0;
      }
      case "class": {
        const [sub, ...names] = rest;
        await using pool = await openFromArgs(v);
        if (sub === "add") {
          if (names.length !== 1) {
            throw new PoolUsageError("Expected one class name: dexp pool class add NAME [options]");
          }
          const c = await pool.defineClass({
            name: names[0],
            ...(v.slots !== undefined ? { slots: parseSlots(v.slots as string, names[0]) } : {}),
            env: keyValues((v.env as string[]) ?? [], "--env"),
            prefix: (v.prefix as string | undefined) ?? null,
            setup: (v.setup as string[] | undefined) ?? [],
            setupTimeout: (v["setup-timeout"] as string | undefined) ?? null,
            stagger: (v.stagger as string | undefined) ?? 0,
          });
          if (v.json) await print(JSON.stringify(c, null, 2));
          else console.log(`Class '${c.name}' defined`);
          return 0;
        }
        if (sub === "ls") {
          const cs = await pool.classes();
          if (v.json) await print(JSON.stringify(cs, null, 2));
          else {
            await print(table([["class", "slots", "env", "prefix", "setup"], ...cs.map(classRow)]));
          }
          return 0;
        }
        throw new PoolUsageError(
          `Unknown action 'class ${sub ?? ""}': use 'class add' or 'class ls'`,
        );
      }
      case "show": {
        await using pool = await openFromArgs(v);
        const [cs, ms, js] = [await pool.classes(), await pool.machines(), await pool.jobs()];
        const states: JobState[] = [
          "waiting",
          "held",
          "running",
          "copying",
          "done",
          "failed",
          "canceled",
          "lost",
        ];
        const byClass = cs.map((c) => {
          const counts: Record<string, number> = {};
          for (const s of states) counts[s] = 0;
          for (const j of js) if (j.class === c.name) counts[j.state]++;
          const machines: Record<string, number> = {};
          for (const m of ms) {
            if (m.class === c.name) machines[m.state] = (machines[m.state] ?? 0) + 1;
          }
          return { class: c.name, machines, jobs: counts };
        });
        if (v.json) {
          await print(JSON.stringify({ dir: pool.dir, seq: pool.seq, classes: byClass }, null, 2));
          return 0;
        }
        await print(table([
          ["class", "machines", ...states],
          ...byClass.map((b) => [
            b.class,
            Object.entries(b.machines).map(([s, n]) => `${n} ${s}`).join(", ") || "none",
            ...states.map((s) => String(b.jobs[s])),
          ]),
        ]));
        return 0;
      }
      default:
        throw new PoolUsageError(
          `Unknown action '${action ?? ""}': use init, class or show (dexp pool --help)`,
        );
    }
  });
}

/** The `dexp pool` verb. */
export const poolVerb: Verb = {
  run,
};
