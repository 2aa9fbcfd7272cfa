/**
 * Forged history is never shown as authentic. History reaches a client in join replies, on a
 * first join and on a resume after a reconnect (a join with `after`), never as live `message`
 * events (those are tampered with in client.browser.test.ts and web-components/sov-chat-room.browser.test.ts). Two relays forge it
 * here: one that rewrites join replies on the wire (hostile-network.ts), and the real relay serving
 * a data folder whose history its operator rewrote with the relay's own store (forgedRelay).
 *
 * Each forged message must be `verified: false` in the SDK and, in <sov-chat>, carry the words
 * that it may be forged and no "signed by the author" mark; each genuine message around the
 * forged ones must be verified and marked signed (a client that trusted nothing would pass the
 * first half). All of it in Chromium on both verification paths: WebCrypto Ed25519 and
 * @noble/ed25519 (`webCrypto: false`).
 */
import { expect } from '@esm-bundle/chai';
import { SovClient } from '../../sdk/client.ts';
import type { ChatMessage } from '../../sdk/protocol.ts';
import type { ClientMessage, Room } from '../../sdk/room.ts';
import { memoryStorage } from '../../sdk/storage.ts';
import { hasWebCryptoEd25519 } from '../../sdk/crypto/signing.ts';
import { Verifier } from '../../sdk/crypto/verify.ts';
import '../../web-components/index.ts';
import type { SovChat } from '../../web-components/sov-chat/sov-chat.ts';
import { STORED_FORGERIES, WIRE_FORGERIES, operatorAccount } from './forgery.ts';
import type { Forgery, OperatorAccount } from './forgery.ts';
import { hostileNetwork } from './hostile-network.ts';
import type { HostileNetwork, JoinSent } from './hostile-network.ts';
import { forgedRelay, relayInfo, uniqueName } from './relay.ts';
import { until } from './until.ts';

const PASSWORD = 'correct horse battery';
/** Genuine messages before the forged ones (what a resuming reader already has) and after them. */
const BEFORE = 2;

/** A stored message as the relay holds and serves it. */
function asStored({ room, seq, author, cid, ts, text, sig }: ClientMessage): ChatMessage {
  if (seq === null) throw new Error('the relay has not stored this message yet');
  return { room, seq, author, cid, ts, text, sig };
}

/** How <sov-chat> shows a message: authentic (signed mark, no warning), not authentic (warning, no mark) or neither. */
function shown(row: HTMLElement): string {
  const signed = row.querySelector('[aria-label="Signed by the author"]') !== null;
  const warned =
    row.classList.contains('unverified') &&
    (row.querySelector('.warning')?.textContent ?? '').includes(
      'Signature does not check out: this message may be forged',
    );
  if (signed && !warned) return 'authentic';
  if (warned && !signed) return 'not authentic';
  return `unclear (signed mark: ${signed}, warning: ${warned})`;
}

function messageRows(chat: SovChat): HTMLElement[] {
  const room = chat.shadowRoot?.querySelector('sov-chat-room');
  return [...(room?.shadowRoot?.querySelectorAll<HTMLElement>('li.message') ?? [])];
}

/** Ed25519 verifications WebCrypto did: proof of which path the reader's SDK took. */
let webCryptoVerifies = 0;
const subtleVerify = crypto.subtle.verify.bind(crypto.subtle);
crypto.subtle.verify = ((algorithm, key, signature, data) => {
  if ((typeof algorithm === 'string' ? algorithm : algorithm.name) === 'Ed25519') webCryptoVerifies++;
  return subtleVerify(algorithm, key, signature, data);
}) as SubtleCrypto['verify'];

for (const webCrypto of [true, false]) {
  describe(`Forged history, verified with ${webCrypto ? 'WebCrypto Ed25519' : '@noble/ed25519'}`, function () {
    this.timeout(90_000);
    let alice: SovClient;
    let reader: SovClient;
    let network: HostileNetwork;
    let operator: OperatorAccount;
    let chat: SovChat | null = null;
    let joinedRoom = '';

    before(async () => {
      const { url, wsUrl } = await relayInfo();
      alice = new SovClient({ relay: url, storage: memoryStorage() });
      network = hostileNetwork();
      reader = new SovClient({
        relay: url,
        storage: memoryStorage(),
        WebSocket: network.WebSocket,
        heartbeatMs: 1000,
        webCrypto,
      });
      await Promise.all([
        alice.register({
          username: uniqueName('alice'),
          password: PASSWORD,
          firstName: 'Alice',
          lastName: 'Author',
        }),
        reader.register({
          username: uniqueName('reader'),
          password: PASSWORD,
          firstName: 'Rita',
          lastName: 'Reader',
        }),
      ]);
      operator = await operatorAccount(wsUrl);
      expect(
        await hasWebCryptoEd25519(),
        'this Chromium has WebCrypto Ed25519, so webCrypto: false is what turns it off',
      ).to.equal(true);
    });

    after(() => {
      alice?.close();
      reader?.close();
    });

    afterEach(async () => {
      chat?.remove();
      chat = null;
      network.forgeHistory = null;
      network.frozen = false;
      if (joinedRoom) await reader.leave(joinedRoom);
      joinedRoom = '';
      if (network.route) {
        // Back to the test relay for the next test.
        network.route = null;
        await reconnect();
      }
    });

    async function reconnect(): Promise<void> {
      const opened = network.opened;
      network.dropAll();
      // The connection may sit in a backoff wait after failed attempts; "online" skips it.
      window.dispatchEvent(new Event('online'));
      await until(() => reader.state === 'connected' && network.opened > opened, 'the reader reconnecting', 30_000);
    }

    function mountChat(room: string): SovChat {
      const element = document.createElement('sov-chat');
      element.client = reader;
      element.setAttribute('room', room);
      element.style.height = '900px';
      element.style.width = '720px';
      document.body.append(element);
      chat = element;
      joinedRoom = room;
      return element;
    }

    /**
     * Alice writes BEFORE genuine messages, one message per forgery, and a genuine last one; the
     * relay serves each of the middle ones forged. The reader joins the room after the forging
     * (join) or has the first BEFORE messages and comes back after a dropped connection (resume).
     * A relay on the wire can also list the history newest first, so a replay comes before the
     * message it copies.
     */
    async function forgedHistoryIsCaught(
      serve: 'wire' | 'disk',
      when: 'join' | 'resume',
      order: 'oldest first' | 'newest first' = 'oldest first',
    ): Promise<void> {
      const forgeries: Forgery[] = serve === 'wire' ? WIRE_FORGERIES : STORED_FORGERIES;
      const name = uniqueName('room');
      const other = await alice.join(uniqueName('room'));
      await other.send('For the other room only');
      await other.send('Also for the other room only');
      const room = await alice.join(name);
      const labels = [
        ...Array.from({ length: BEFORE }, (_, i) => `genuine #${i + 1}`),
        ...forgeries.map((forgery) => `forged: ${forgery.what}`),
        'genuine, after the forged ones',
      ];
      for (const label of labels.slice(0, BEFORE)) await room.send(label);
      let readerRoom: Room | null = null;
      if (when === 'resume') {
        mountChat(name);
        readerRoom = await reader.join(name);
        await until(
          () => readerRoom!.messages.length === BEFORE && messageRows(chat!).length === BEFORE,
          'the first messages at the reader',
        );
        network.frozen = true;
      }
      for (const label of labels.slice(BEFORE)) await room.send(label);
      // Signatures and signed timestamps arrive with the relay's copies of Alice's own messages.
      await until(
        () => room.messages.every((m) => m.sig !== '') && other.messages.every((m) => m.sig !== ''),
        "the relay's copies at Alice",
      );
      const genuine = room.messages.map(asStored);
      const material = {
        operator,
        otherRoom: [asStored(other.messages[0]!), asStored(other.messages[1]!)] as const,
        earlier: genuine[0]!,
      };
      const served = [...genuine];
      for (const [index, forgery] of forgeries.entries())
        served[BEFORE + index] = await forgery.forge(genuine[BEFORE + index]!, material);
      await signaturesHoldWhereTheForgeryKeepsThem(forgeries, served, genuine[0]!.author);

      const joins: JoinSent[] = [];
      const bySeq = new Map(served.map((message) => [message.seq, message]));
      network.forgeHistory = (messages, join) => {
        if (join.room !== name) return messages;
        joins.push(join);
        if (serve === 'disk') return messages;
        const forged = messages.map((message) => bySeq.get(message.seq) ?? message);
        return order === 'newest first' ? forged.reverse() : forged;
      };
      if (serve === 'disk') {
        const relay = await forgedRelay(served.map(({ seq: _seq, ...message }) => message));
        network.route = () => relay.wsUrl;
      }
      const verifiesBefore = webCryptoVerifies;
      network.frozen = false;
      if (when === 'resume' || serve === 'disk') await reconnect();
      if (when === 'join') {
        mountChat(name);
        readerRoom = await reader.join(name);
      }

      await until(
        () => readerRoom!.messages.length === served.length && messageRows(chat!).length === served.length,
        'the whole history at the reader',
      );
      expect(
        joins.map((join) => join.after),
        'how the reader asked for the history',
      ).to.deep.equal([when === 'join' ? undefined : BEFORE]);
      expect(
        readerRoom!.messages.map((m) => [m.seq, m.text]),
        'the history as served',
      ).to.deep.equal(served.map((m) => [m.seq, m.text]));
      const expected = labels.map((label) => `${label}: ${label.startsWith('forged') ? 'not authentic' : 'authentic'}`);
      expect(
        readerRoom!.messages.map((m, i) => `${labels[i]}: ${m.verified ? 'authentic' : 'not authentic'}`),
        'in the SDK',
      ).to.deep.equal(expected);
      const rows = messageRows(chat!);
      expect(
        rows.map((row) => row.querySelector('.text')?.textContent),
        'the rows in order',
      ).to.deep.equal(served.map((m) => m.text));
      expect(
        rows.map((row, i) => `${labels[i]}: ${shown(row)}`),
        'in <sov-chat>',
      ).to.deep.equal(expected);
      const path = webCryptoVerifies > verifiesBefore ? 'WebCrypto' : 'noble';
      expect(path, 'the verification path taken').to.equal(webCrypto ? 'WebCrypto' : 'noble');
    }

    /** The forgeries that keep a valid signature really do: only the author or the room name can give them away. */
    async function signaturesHoldWhereTheForgeryKeepsThem(
      forgeries: Forgery[],
      served: ChatMessage[],
      author: number,
    ): Promise<void> {
      const verifier = new Verifier(webCrypto);
      const authorKeys = (await alice.profile(author)).keys.map((key) => key.publicKey);
      for (const [index, forgery] of forgeries.entries()) {
        if (!forgery.validSignature) continue;
        const keys = forgery.validSignature === 'operator' ? [operator.publicKey] : authorKeys;
        expect(
          await verifier.verify(served[BEFORE + index]!, keys),
          `${forgery.what}: the signature itself is valid`,
        ).to.equal(true);
      }
    }

    for (const serve of ['wire', 'disk'] as const) {
      const relay =
        serve === 'wire'
          ? 'a relay that rewrites join replies on the wire'
          : 'a relay serving history its operator altered on disk';
      it(`${relay}: every forged message is unverified on join, and shown as not authentic`, () =>
        forgedHistoryIsCaught(serve, 'join'));
      it(`${relay}: every forged message is unverified on resume after a reconnect, and shown as not authentic`, () =>
        forgedHistoryIsCaught(serve, 'resume'));
    }
    it('a relay that lists history newest first: the replay is caught though it comes before the message it copies', () =>
      forgedHistoryIsCaught('wire', 'join', 'newest first'));
  });
}
