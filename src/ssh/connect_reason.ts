/**
 * Why ssh could not log in, in dexp's words: the headline of a connect failure with a hint
 * that names what to change (the known_hosts line, the user or key, the port, the address).
 * The process layer prints it as it is (`Could not connect to HOST: REASON`).
 *
 * @module
 */

import type { ConnectionParams } from "./params.ts";

/** The last meaningful line of ssh's complaint, e.g. "Connection refused". */
export function sshReason(stderr: string): string {
  const lines = stderr.split("\n").map((l) => l.trim()).filter((l) =>
    l !== "" && !l.startsWith("debug") && !l.startsWith("Warning: Permanently added")
  );
  return lines.at(-1) ?? "ssh exited with code 255 and said nothing";
}

/**
 * The reason of a failed login: ssh's complaint with a hint for the known ones (changed host
 * key, unknown host key, publickey refused, connection refused, unresolvable name); ssh's
 * last line for the others.
 *
 * @param stderr What ssh printed.
 * @param p The connection parameters that were used.
 * @param address The address ssh connected to.
 * @returns One line.
 * @example
 * ```ts
 * import { connectReason } from "./connect_reason.ts";
 * import { deepStrictEqual } from "node:assert";
 * const why = connectReason("ssh: connect to host 10.0.0.1 port 2222: Connection refused\n", {
 *   port: 2222,
 * }, "10.0.0.1");
 * deepStrictEqual(
 *   why,
 *   "Connection refused on port 2222 of '10.0.0.1': nothing listens there; check 'port' or that sshd runs on the host",
 * );
 * ```
 */
export function connectReason(stderr: string, p: ConnectionParams, address: string): string {
  const port = p.port ?? 22;
  const hostKey = port === 22 ? address : `[${address}]:${port}`;
  const changed = /REMOTE HOST IDENTIFICATION HAS CHANGED/.test(stderr);
  if (changed) {
    const m = stderr.match(/Offending \S+ key in (.+):(\d+)\s*$/m);
    const where = m
      ? `line ${m[2]} of '${
        m[1]
      }' holds the old key: if the change is expected, remove that line (ssh-keygen -f '${
        m[1]
      }' -R '${hostKey}') and connect again`
      : "if the change is expected, remove the host's old line from its known_hosts file and connect again";
    return `The host key of '${hostKey}' has changed (REMOTE HOST IDENTIFICATION HAS CHANGED): ssh refuses to log in; ${where}`;
  }
  if (/Host key verification failed/.test(stderr)) {
    const file = p.knownHosts ? `'${p.knownHosts}'` : "the known_hosts file (~/.ssh/known_hosts)";
    const strict = p.strictHostKeyChecking ?? "from the ssh config";
    return `Host key verification failed: no key for '${hostKey}' in ${file} and StrictHostKeyChecking is ${
      strict === "from the ssh config" ? strict : `'${strict}'`
    }: add the host's key to that file (ssh-keyscan -p ${port} ${address}) or set strictHostKeyChecking: "accept-new"`;
  }
  const denied = stderr.match(/^(?:(\S+)@\S+: )?Permission denied \(([^)]*)\)/m);
  if (denied) {
    const user = p.user ?? denied[1];
    const who = user ? `user '${user}'` : "the user (ssh's default: your local user name)";
    const key = p.keyfile ? `key '${p.keyfile}'` : "ssh's default keys (~/.ssh/id_*, the agent)";
    return `Permission denied (${
      denied[2]
    }) for ${who} with ${key} on '${hostKey}': check 'user' and 'keyfile' (the key's public half must be in that user's ~/.ssh/authorized_keys on the host)`;
  }
  if (/Connection refused/.test(stderr)) {
    return `Connection refused on port ${port} of '${address}': nothing listens there; check 'port' or that sshd runs on the host`;
  }
  const unresolved = stderr.match(/Could not resolve hostname (\S+?):/);
  if (unresolved) {
    return `Could not resolve hostname '${
      unresolved[1]
    }': check the host's address (a typo, DNS, /etc/hosts or the ssh config's HostName)`;
  }
  return sshReason(stderr);
}
