import { expect } from '@esm-bundle/chai';
import { relayInfo } from './relay.ts';

describe('browser test setup', () => {
  it('reaches the real relay over a WebSocket', async () => {
    const { wsUrl } = await relayInfo();
    const socket = new WebSocket(wsUrl);
    const hello = await new Promise<{ ev: string; protocol: number }>((resolve, reject) => {
      socket.onmessage = (event) => resolve(JSON.parse(event.data));
      socket.onerror = () => reject(new Error('no connection'));
    });
    socket.close();
    expect(hello).to.include({ ev: 'hello', protocol: 1 });
  });
});
