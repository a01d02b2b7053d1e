/** Docker labels of the product's objects. */

/** Docker labels that tie an object to its stack and host, for `docker ps --filter`. */
export function stackLabels(project: string, stack: string, host: string): Record<string, string> {
  return {
    "dev.mqtt-edge.project": project,
    "dev.mqtt-edge.stack": stack,
    "dev.mqtt-edge.host": host,
  };
}

/** A label map as the Docker provider's `[{label, value}]` list. */
export function labelList(labels: Record<string, string>): { label: string; value: string }[] {
  return Object.entries(labels).map(([label, value]) => ({ label, value }));
}
