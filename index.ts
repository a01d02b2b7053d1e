import { withStackTraceHint } from "./tuning";
import * as pulumi from "@pulumi/pulumi";
import { ConfigError, loadConfig } from "./config";
import { deployStack, type StackOutputs } from "./program";

// Validated before anything is registered: a bad stack fails here with every problem listed.
// RunError prints the message alone: a stack trace would only bury the key paths. Any other error
// says how to get its stack trace (tuning.ts turns them off).
let stack: StackOutputs;
try {
  stack = deployStack(loadConfig());
} catch (e) {
  if (e instanceof ConfigError) throw new pulumi.RunError(e.message);
  throw withStackTraceHint(e);
}

export const websocketUrl = stack.websocketUrl;
export const tunnelId = stack.tunnelId;
export const tunnelToken = stack.tunnelToken;
export const mqttCredentials = stack.mqttCredentials;
/** Per host, by host name: websocketUrl, tunnelToken (secret), tunnelId, broker, ... */
export const hosts = stack.hosts;
export const accessTokens = stack.accessTokens;
export const clientKits = stack.clientKits;
export const probe = stack.probe;
