import type { WireProtocol } from '../protocol.js';
import { g2pConnectProtocol } from './g2p-connect.js';
import { sparV1Protocol } from './spar-v1.js';
import { sparV2Protocol } from './spar-v2.js';

const PROTOCOLS: Readonly<Record<WireProtocol['name'], WireProtocol>> = {
  'spar-v2': sparV2Protocol,
  'spar-v1': sparV1Protocol,
  'g2p-connect': g2pConnectProtocol,
};

export function protocolNamed(name: WireProtocol['name']): WireProtocol {
  return PROTOCOLS[name];
}
