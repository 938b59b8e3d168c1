// The socket-owner lookup of the platform the broker runs on.
import type { SocketOwnerLookup } from './socket-owner.js';
import { linuxSocketOwner } from './socket-owner-linux.js';
import { macosSocketOwner } from './socket-owner-macos.js';
import { windowsSocketOwner } from './socket-owner-windows.js';

/** The lookup for this platform; undefined where there is none (the check then refuses what it cannot attribute). */
export function platformSocketOwner(platform: NodeJS.Platform = process.platform): SocketOwnerLookup | undefined {
  switch (platform) {
    case 'linux':
      return linuxSocketOwner;
    case 'darwin':
      return macosSocketOwner;
    case 'win32':
      return windowsSocketOwner;
    default:
      return undefined;
  }
}
