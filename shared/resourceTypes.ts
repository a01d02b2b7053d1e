/**
 * The one table of type tokens: the resources and invokes of the providers the program uses, and
 * the program's own components. Used by the components (their type), the policy pack (what each
 * policy applies to), the unit tests' mocks and assertions, the e2e tests and the benchmarks.
 * Plain TypeScript with no imports, so the policy pack can import it by relative path.
 */
export const TYPES = {
  container: "docker:index/container:Container",
  network: "docker:index/network:Network",
  volume: "docker:index/volume:Volume",
  service: "docker:index/service:Service",
  secret: "docker:index/secret:Secret",
  serviceConfig: "docker:index/serviceConfig:ServiceConfig",
  remoteImage: "docker:index/remoteImage:RemoteImage",
  dockerProvider: "pulumi:providers:docker",
  tunnel: "cloudflare:index/zeroTrustTunnelCloudflared:ZeroTrustTunnelCloudflared",
  /** The deprecated alias of ZeroTrustTunnelCloudflared. */
  legacyTunnel: "cloudflare:index/tunnel:Tunnel",
  tunnelConfig:
    "cloudflare:index/zeroTrustTunnelCloudflaredConfig:ZeroTrustTunnelCloudflaredConfig",
  dnsRecord: "cloudflare:index/dnsRecord:DnsRecord",
  /** The deprecated alias of DnsRecord that @pulumi/cloudflare 6 still ships. */
  record: "cloudflare:index/record:Record",
  zoneSetting: "cloudflare:index/zoneSetting:ZoneSetting",
  accessApp: "cloudflare:index/zeroTrustAccessApplication:ZeroTrustAccessApplication",
  accessPolicy: "cloudflare:index/zeroTrustAccessPolicy:ZeroTrustAccessPolicy",
  accessToken: "cloudflare:index/zeroTrustAccessServiceToken:ZeroTrustAccessServiceToken",
  password: "random:index/randomPassword:RandomPassword",
  bytes: "random:index/randomBytes:RandomBytes",
  /** A Pulumi dynamic resource: the tunnel's connection cleanup (components/tunnelCleanup.ts). */
  dynamic: "pulumi-nodejs:dynamic:Resource",
  edgeHost: "mqtt-edge:host:EdgeHost",
  broker: "mqtt-edge:broker:MqttBroker",
  tunnelComponent: "mqtt-edge:tunnel:CloudflareTunnel",
  connector: "mqtt-edge:connector:TunnelConnector",
  privateNetwork: "mqtt-edge:network:PrivateNetwork",
  swarmProxy: "mqtt-edge:swarm:SwarmProxy",
} as const;

/** Provider functions (invokes) the program calls. */
export const INVOKES = {
  tunnelToken:
    "cloudflare:index/getZeroTrustTunnelCloudflaredToken:getZeroTrustTunnelCloudflaredToken",
  zone: "cloudflare:index/getZone:getZone",
  zones: "cloudflare:index/getZones:getZones",
  tunnels: "cloudflare:index/getZeroTrustTunnelCloudflareds:getZeroTrustTunnelCloudflareds",
  dnsRecords: "cloudflare:index/getDnsRecords:getDnsRecords",
  accessApps: "cloudflare:index/getZeroTrustAccessApplications:getZeroTrustAccessApplications",
  accessServiceTokens:
    "cloudflare:index/getZeroTrustAccessServiceTokens:getZeroTrustAccessServiceTokens",
  zoneSetting: "cloudflare:index/getZoneSetting:getZoneSetting",
  botManagement: "cloudflare:index/getBotManagement:getBotManagement",
} as const;
