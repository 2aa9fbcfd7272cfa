// The React recipe of docs/sdk.md ("React"), as written there, in Chromium against the test relay:
// a message another client sends re-renders the component that shows the room.
import { expect } from '@esm-bundle/chai';
import { useSyncExternalStore } from 'react';
import { createRoot } from 'react-dom/client';
import { SovClient, memoryStorage } from '../../sdk/index.ts';
import type { Room, RoomSnapshot } from '../../sdk/index.ts';
import { relayInfo, uniqueName } from './relay.ts';
import { until } from './until.ts';

// ---- the recipe, as in docs/sdk.md ----

/** The room's state; the component re-renders on every change to it. */
export function useRoom(room: Room): RoomSnapshot {
  return useSyncExternalStore(room.subscribe, room.getSnapshot);
}

export function Messages({ room }: { room: Room }) {
  const { messages } = useRoom(room);
  return (
    <ol>
      {messages.map((message) => (
        // Author and client id name a message from pending to sent; seq is null until then.
        <li key={`${message.author}:${message.cid}`}>
          {message.text} {message.state !== 'sent' && `(${message.state})`}
        </li>
      ))}
    </ol>
  );
}

// ---- the test ----

describe('the React recipe', function () {
  this.timeout(60_000);

  it('useRoom re-renders the messages when another client sends one, and when our own goes from pending to sent', async () => {
    const { url } = await relayInfo();
    const [reader, writer] = [
      new SovClient({ relay: url, storage: memoryStorage() }),
      new SovClient({ relay: url, storage: memoryStorage() }),
    ];
    const host = document.createElement('div');
    document.body.append(host);
    const root = createRoot(host);
    try {
      await Promise.all(
        [reader, writer].map((client, i) =>
          client.register({
            username: uniqueName(`react${i}`),
            password: 'react renders this',
            firstName: 'Реакт',
            lastName: String(i),
          }),
        ),
      );
      const name = uniqueName('react');
      const [readerRoom, writerRoom] = [await reader.join(name), await writer.join(name)];
      root.render(<Messages room={readerRoom} />);
      await until(() => host.querySelector('ol') !== null, 'the first render');
      expect(host.querySelectorAll('li')).to.have.length(0);

      await writerRoom.send('from the other client');
      await until(
        () => host.textContent?.includes('from the other client') === true,
        "the other client's message rendered",
      );

      // Every text the list showed, however briefly: the pending row may last only until the reply.
      const shown: string[] = [];
      const observer = new MutationObserver(() => shown.push(host.textContent ?? ''));
      observer.observe(host, {
        childList: true,
        subtree: true,
        characterData: true,
      });
      await readerRoom.send('from this client');
      await until(
        () => host.querySelectorAll('li')[1]?.textContent?.trim() === 'from this client',
        'our message rendered as sent',
      );
      observer.disconnect();
      expect(shown.some((text) => text.includes('from this client (pending)'))).to.equal(
        true,
        'rendered as pending first',
      );
      expect([...host.querySelectorAll('li')].map((item) => item.textContent?.trim())).to.deep.equal([
        'from the other client',
        'from this client',
      ]);
    } finally {
      root.unmount();
      host.remove();
      reader.close();
      writer.close();
    }
  });
});
