/** Profiles: look one up, change your own (names, username; avatars come by HTTP upload). */
import { SovError } from '../../sdk/errors.ts';
import { USERS_TOPIC, eventFrame, requireSession } from './context.ts';
import type { HandlerTable } from './context.ts';

export const profileHandlers: HandlerTable<'profile' | 'update-profile'> = {
  profile(ctx, ws, { userId, username }) {
    requireSession(ws);
    if (userId === undefined && username === undefined) {
      throw new SovError('EMPTY_FIELD', 'Give "userId" or "username".', {
        field: 'userId',
      });
    }
    const account = userId !== undefined ? ctx.accounts.get(userId) : ctx.accounts.find(username!);
    if (!account) throw new SovError('UNKNOWN_USER');
    return { user: ctx.accounts.profile(account) };
  },

  async 'update-profile'(ctx, ws, change) {
    const { userId } = requireSession(ws);
    const account = await ctx.accounts.updateProfile(userId, change);
    const user = ctx.accounts.profile(account);
    ctx.publish(USERS_TOPIC, eventFrame({ ev: 'profile', user }));
    return { user };
  },
};
