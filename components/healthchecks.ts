/** `grep` over /proc/net/tcp{,6} for a socket listening on `port`: needs only busybox. */
export function listeningCheck(port: number): string[] {
  const hex = port.toString(16).toUpperCase().padStart(4, "0");
  return [
    "CMD-SHELL",
    `grep -Eq '^ *[0-9]+: [0-9A-F]+:${hex} [0-9A-F]+:0000 0A' /proc/net/tcp /proc/net/tcp6`,
  ];
}
