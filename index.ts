import "./tuning";
import * as pulumi from "@pulumi/pulumi";
import { ConfigError, loadConfig, type StackConfig } from "./config";
import { deployStack } from "./program";

// Validated before anything is registered: a bad stack fails here with every problem listed.
// RunError prints the message alone: a stack trace would only bury the key paths.
let config: StackConfig;
try {
  config = loadConfig();
} catch (e) {
  if (e instanceof ConfigError) throw new pulumi.RunError(e.message);
  throw e;
}
const stack = deployStack(config);

export const websocketUrl = stack.websocketUrl;
export const tunnelId = stack.tunnelId;
export const tunnelToken = stack.tunnelToken;
export const mqttCredentials = stack.mqttCredentials;
export const hosts = stack.hosts;
export const accessTokens = stack.accessTokens;
export const clientKits = stack.clientKits;
