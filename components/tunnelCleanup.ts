/**
 * Clears a tunnel's connection records before the tunnel is deleted.
 *
 * Cloudflare refuses to delete a tunnel while it lists connections for it: 400, code 1022,
 * "Cannot delete tunnel because it has active connections" (terraform-provider-cloudflare#5255).
 * A connector that stopped a moment ago is still listed for minutes (`is_pending_reconnect`),
 * and the provider deletes with a bare `DELETE /accounts/{account}/cfd_tunnel/{id}`: no
 * `?cascade=true`, no cleanup first. So `pulumi destroy`, removing a host and replacing a tunnel
 * failed right after their connectors stopped.
 *
 * This resource makes the call `cloudflared tunnel cleanup` makes (Cloudflare API "Clean up
 * Cloudflare Tunnel connections": `DELETE /accounts/{account}/cfd_tunnel/{id}/connections`)
 * when it is deleted. It depends on the tunnel and the connectors depend on it, so the engine
 * deletes it after the connectors stopped and before the tunnel goes. Creating it does nothing.
 */
import * as pulumi from "@pulumi/pulumi";

/** Cloudflare's API root, unless `cloudflare:baseUrl` points elsewhere (as the provider does). */
export const CLOUDFLARE_API = "https://api.cloudflare.com/client/v4";

interface CleanupProps {
  accountId: string;
  tunnelId: string;
  /** The API token the cloudflare provider uses (secret in state). */
  apiToken: string;
  baseUrl: string;
}

/**
 * The provider: self-contained, since Pulumi serializes it into the state with its closure.
 * A new token or base URL is an update (stored for the next delete); another tunnel, a new one.
 */
const cleanupProvider: pulumi.dynamic.ResourceProvider = {
  async create(inputs: CleanupProps) {
    return { id: `${inputs.accountId}/${inputs.tunnelId}`, outs: inputs };
  },
  async diff(_id: string, olds: CleanupProps, news: CleanupProps) {
    const replaces = (["accountId", "tunnelId"] as const).filter((k) => olds[k] !== news[k]);
    const changes =
      replaces.length > 0 || olds.apiToken !== news.apiToken || olds.baseUrl !== news.baseUrl;
    return { changes, replaces, deleteBeforeReplace: false };
  },
  async update(_id: string, _olds: CleanupProps, news: CleanupProps) {
    return { outs: news };
  },
  async delete(_id: string, props: CleanupProps) {
    const url = `${props.baseUrl.replace(/\/+$/, "")}/accounts/${props.accountId}/cfd_tunnel/${props.tunnelId}/connections`;
    const res = await fetch(url, {
      method: "DELETE",
      headers: { Authorization: `Bearer ${props.apiToken}` },
    });
    // 404: the tunnel is gone already (deleted by hand); nothing to clean up.
    if (res.ok || res.status === 404) return;
    const body = (await res.text()).slice(0, 500);
    throw new Error(
      `could not clean up the connections of tunnel ${props.tunnelId} ` +
        `(DELETE .../cfd_tunnel/${props.tunnelId}/connections answered ${res.status}): ${body}`,
    );
  },
};

/** The API token and base URL the cloudflare provider is configured with. */
export function cloudflareCredentials(): {
  apiToken: pulumi.Output<string>;
  baseUrl: string;
} {
  const config = new pulumi.Config("cloudflare");
  const token =
    config.getSecret("apiToken") ?? pulumi.secret(process.env.CLOUDFLARE_API_TOKEN ?? "");
  return { apiToken: token, baseUrl: config.get("baseUrl") ?? CLOUDFLARE_API };
}

export class TunnelConnectionsCleanup extends pulumi.dynamic.Resource {
  constructor(
    name: string,
    args: {
      accountId: pulumi.Input<string>;
      tunnelId: pulumi.Input<string>;
      apiToken: pulumi.Input<string>;
      baseUrl: pulumi.Input<string>;
    },
    opts?: pulumi.CustomResourceOptions,
  ) {
    super(
      cleanupProvider,
      name,
      { ...args, apiToken: pulumi.secret(args.apiToken) },
      {
        ...opts,
        additionalSecretOutputs: ["apiToken"],
      },
    );
  }
}
