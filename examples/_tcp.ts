/**
 * A tiny TCP sink and source for the examples, in python3 (found on most hosts; netcat
 * flavours disagree on their flags). The sink prints `listening` once bound and the bytes it
 * received when the sender closes; the source prints `sent BYTES SECONDS`.
 *
 * @module
 */
import { sh } from "../mod.ts";

const SINK = `
import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], int(sys.argv[2]))); s.listen(8)
print("listening", flush=True)
while True:
    c, _ = s.accept(); n = 0
    while True:
        b = c.recv(1 << 20)
        if not b: break
        n += len(b)
    print("received", n, flush=True); c.close()
`;

const SOURCE = `
import socket, sys, time
n = int(sys.argv[3]); buf = bytes(1 << 20); t = time.time()
c = socket.create_connection((sys.argv[1], int(sys.argv[2])))
left = n
while left > 0:
    k = min(left, len(buf)); c.sendall(buf[:k]); left -= k
c.shutdown(socket.SHUT_WR); c.recv(1); c.close()
print("sent", n, round(time.time() - t, 6), flush=True)
`;

/**
 * The command that starts a sink listening on `address:port`.
 *
 * @param address The address to bind.
 * @param port The port.
 * @returns A shell line.
 */
export function sinkCommand(address: string, port: number): string {
  return sh`exec python3 -u -c ${SINK} ${address} ${port}`;
}

/**
 * The command that sends `bytes` bytes to `address:port`.
 *
 * @param address The peer.
 * @param port Its port.
 * @param bytes How many bytes.
 * @returns A shell line.
 */
export function sourceCommand(address: string, port: number, bytes: number): string {
  return sh`python3 -c ${SOURCE} ${address} ${port} ${bytes}`;
}

/**
 * Parses a source's `sent BYTES SECONDS` line into MB/s.
 *
 * @param line The line.
 * @returns Megabytes per second.
 */
export function mbPerSecond(line: string): number {
  const [, bytes, secs] = line.trim().split(/\s+/);
  return Number(bytes) / 1e6 / Math.max(Number(secs), 1e-6);
}
