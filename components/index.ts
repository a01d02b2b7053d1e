/**
 * The components a program composes, with their args, and what the stack outputs are made of.
 * EdgeHost composes the others per Docker host; they are exported for programs that compose
 * them differently.
 */
export { MqttBroker, type MqttBrokerArgs } from "./broker";
export { TunnelConnector, type TunnelConnectorArgs, type ConnectorTunnel } from "./connector";
export { EdgeHost, type EdgeHostArgs, type DeclaredZone, type HostOutputs } from "./edgeHost";
export { PrivateNetwork, type PrivateNetworkArgs } from "./network";
export type { ClientKit } from "./render";
export { SwarmProxy, type SwarmProxyArgs } from "./swarmProxy";
export { CloudflareTunnel, type CloudflareTunnelArgs, type TunnelHostname } from "./tunnel";
