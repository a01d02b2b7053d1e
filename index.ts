import { loadConfig } from "./config";
import { deployStack } from "./program";

// Validated before anything is registered: a bad stack fails here with every problem listed.
const stack = deployStack(loadConfig());

export const websocketUrl = stack.websocketUrl;
export const tunnelId = stack.tunnelId;
export const tunnelToken = stack.tunnelToken;
export const mqttCredentials = stack.mqttCredentials;
export const hosts = stack.hosts;
export const accessTokens = stack.accessTokens;
