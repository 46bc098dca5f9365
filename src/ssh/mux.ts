/**
 * Talking to a local ssh master over its control socket directly (OpenSSH's PROTOCOL.mux),
 * for what would otherwise cost an `ssh -O ...` process per host: asking masters to exit when
 * a program ends, and checking that persisted masters are alive when the next program starts
 * (N masters, N processes of ~5 ms of CPU each, on the critical path).
 *
 * @module
 */

const MUX_MSG_HELLO = 0x00000001;
const MUX_C_ALIVE_CHECK = 0x10000004;
const MUX_C_TERMINATE = 0x10000005;
const MUX_S_OK = 0x80000001;
const MUX_S_ALIVE = 0x80000005;
const MUX_VERSION = 4;

function frame(...words: number[]): Uint8Array {
  const buf = new Uint8Array(4 + words.length * 4);
  const view = new DataView(buf.buffer);
  view.setUint32(0, words.length * 4);
  words.forEach((w, i) => view.setUint32(4 + i * 4, w));
  return buf;
}

class Closed extends Error {}

async function readExactly(conn: Deno.UnixConn, n: number): Promise<Uint8Array> {
  const out = new Uint8Array(n);
  let got = 0;
  while (got < n) {
    const k = await conn.read(out.subarray(got));
    if (k === null) throw new Closed();
    got += k;
  }
  return out;
}

async function readMessage(conn: Deno.UnixConn): Promise<DataView> {
  const len = new DataView((await readExactly(conn, 4)).buffer).getUint32(0);
  if (len < 4 || len > 65536) throw new Error(`bad mux message length ${len}`);
  return new DataView((await readExactly(conn, len)).buffer);
}

/**
 * Asks the master on `socket` to exit, as `ssh -O exit` does, without starting a process.
 *
 * @param socket The master's control socket.
 * @param deadline Most time to wait for its answer, in ms.
 * @returns Whether the master said yes; false when it could not be asked (the caller may fall
 *   back to `ssh -O exit`).
 */
export async function muxTerminate(socket: string, deadline: number): Promise<boolean> {
  let conn: Deno.UnixConn;
  try {
    conn = await Deno.connect({ transport: "unix", path: socket });
  } catch {
    return false;
  }
  const timer = setTimeout(() => {
    try {
      conn.close();
    } catch {
      // Closed meanwhile.
    }
  }, deadline);
  try {
    try {
      await conn.write(frame(MUX_MSG_HELLO, MUX_VERSION));
      const hello = await readMessage(conn);
      if (hello.getUint32(0) !== MUX_MSG_HELLO) return false;
      await conn.write(frame(MUX_C_TERMINATE, 1));
    } catch {
      return false;
    }
    try {
      // OpenSSH's master answers OK, or is gone before its answer is out (ssh -O exit takes
      // both as done); a refusal is an answer of another type.
      return (await readMessage(conn)).getUint32(0) === MUX_S_OK;
    } catch (e) {
      return e instanceof Closed;
    }
  } finally {
    clearTimeout(timer);
    try {
      conn.close();
    } catch {
      // Closed by the timer.
    }
  }
}

/**
 * Asks the master on `socket` whether it is alive, as `ssh -O check` does, without starting a
 * process.
 *
 * @param socket The master's control socket.
 * @param deadline Most time to wait for its answer, in ms.
 * @returns `"alive"`, `"dead"` (nothing listens on the socket, or it hung up), or `"unknown"`
 *   (it answered something else: the caller may ask `ssh -O check`).
 */
export async function muxAlive(
  socket: string,
  deadline: number,
): Promise<"alive" | "dead" | "unknown"> {
  let conn: Deno.UnixConn;
  try {
    conn = await Deno.connect({ transport: "unix", path: socket });
  } catch (e) {
    return e instanceof Deno.errors.PermissionDenied || e instanceof Deno.errors.NotCapable
      ? "unknown"
      : "dead";
  }
  const timer = setTimeout(() => {
    try {
      conn.close();
    } catch {
      // Closed meanwhile.
    }
  }, deadline);
  try {
    await conn.write(frame(MUX_MSG_HELLO, MUX_VERSION));
    const hello = await readMessage(conn);
    if (hello.getUint32(0) !== MUX_MSG_HELLO) return "unknown";
    await conn.write(frame(MUX_C_ALIVE_CHECK, 1));
    const reply = await readMessage(conn);
    return reply.getUint32(0) === MUX_S_ALIVE ? "alive" : "unknown";
  } catch (e) {
    return e instanceof Closed ? "dead" : "unknown";
  } finally {
    clearTimeout(timer);
    try {
      conn.close();
    } catch {
      // Closed by the timer.
    }
  }
}
