/**
 * Page A or B of the suite on hostile networks: a Chromium page of its own (hostile-harness-plugin.mjs
 * opens it) holding one participant with its own IndexedDB, driven by the test page through the
 * plugin's 'hostile-page' command. The first call must be `create`; the rest are hostile-participant.ts's
 * RemoteCall.
 */
import { indexedDbStorage } from '../../sdk/storage.ts';
import { Participant, answer, freshUsername } from './hostile-participant.ts';
import type { ParticipantSetup, RemoteCall } from './hostile-participant.ts';

type PeerCall = RemoteCall | { method: 'create'; setup: ParticipantSetup };

declare global {
  interface Window {
    hostilePeer?: (call: PeerCall) => Promise<unknown>;
  }
}

let participant: Participant | null = null;

window.hostilePeer = async (call) => {
  if (call.method === 'create') {
    participant = new Participant(call.setup, indexedDbStorage(freshUsername('peer')));
    return null;
  }
  if (!participant) throw new Error('hostile peer: create comes first');
  return answer(participant, call);
};
