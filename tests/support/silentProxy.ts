/**
 * A stand-in of a proxy that completes the WebSocket handshake (a valid 101 with
 * Sec-WebSocket-Accept, RFC 6455 section 4.2.2, subprotocol mqtt) and then forwards nothing: the
 * client's CONNECT is never answered. What `npm run probe` must report as a CONNACK timeout.
 */
import { createHash } from "node:crypto";
import { createServer, type Socket } from "node:net";

const WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

export async function silentWebSocketProxy(): Promise<{ url: string; close: () => void }> {
  const held: Socket[] = [];
  const server = createServer((sock) => {
    held.push(sock);
    sock.once("data", (d: Buffer) => {
      const key = /^sec-websocket-key:\s*(\S+)/im.exec(d.toString("latin1"))?.[1] ?? "";
      const accept = createHash("sha1")
        .update(key + WS_GUID)
        .digest("base64");
      sock.write(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
          `Sec-WebSocket-Accept: ${accept}\r\nSec-WebSocket-Protocol: mqtt\r\n\r\n`,
      );
      sock.on("data", () => undefined); // the CONNECT frame, swallowed
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const { port } = server.address() as { port: number };
  return {
    url: `ws://127.0.0.1:${port}`,
    close: () => {
      for (const s of held) s.destroy();
      server.close();
    },
  };
}
