/** The chat screen's elements, one chunk that <sov-chat> loads beside the connection (./sov-chat.ts says why). */
import '../sov-chat-room/sov-chat-room.ts';
import '../sov-roster/sov-roster.ts';
