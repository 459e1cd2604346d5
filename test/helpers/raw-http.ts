/**
 * @module One HTTP/1.1 request written byte for byte on a socket to 127.0.0.1, for what fetch will not send: an
 * empty or malformed Host header, or none at all.
 */
import { connect } from "node:net";

export interface RawResponse {
  status: number;
  headers: string;
  body: string;
}

/** Sends `head` (request line and header lines, without the blank line) and `body`; resolves with the answer. */
export function rawRequest(port: number, head: string[], body = ""): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, "127.0.0.1");
    const chunks: Buffer[] = [];
    socket.on("data", (d: Buffer) => chunks.push(d));
    socket.on("error", reject);
    socket.on("close", () => {
      const text = Buffer.concat(chunks).toString("utf8");
      const split = text.indexOf("\r\n\r\n");
      const headers = split < 0 ? text : text.slice(0, split);
      const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(headers)?.[1] ?? 0);
      resolve({ status, headers, body: split < 0 ? "" : text.slice(split + 4) });
    });
    const length = body === "" ? [] : [`Content-Length: ${Buffer.byteLength(body)}`];
    socket.write(`${[...head, ...length, "Connection: close"].join("\r\n")}\r\n\r\n${body}`);
  });
}
