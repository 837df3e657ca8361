/** This SDK's version; it follows the agentmesh crate's. */
export const VERSION = '0.1.0';
