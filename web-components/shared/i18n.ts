/**
 * Every word the components show, one table per language. The `lang` attribute picks the table,
 * else the nearest ancestor's `lang`, else the page's; anything starting with "ru" is Russian.
 * Russian plurals have three forms (1 сообщение, 2 сообщения, 5 сообщений): `plural` picks them
 * with Intl.PluralRules, so counts read right in both languages.
 */
export type Lang = 'en' | 'ru';

const en = {
  'login.title': 'Sign in',
  'login.registerTitle': 'Create an account',
  'login.username': 'Username',
  'login.password': 'Password',
  'login.firstName': 'First name',
  'login.lastName': 'Last name',
  'login.submit': 'Sign in',
  'login.register': 'Create account',
  'login.toRegister': 'No account? Create one',
  'login.toLogin': 'Have an account? Sign in',
  'login.working': 'Securing your password…',
  'login.required': 'Fill in this field.',
  'chat.placeholder': 'Write a message…',
  'chat.send': 'Send',
  'chat.messages': 'Messages',
  'chat.newMessages': 'New messages',
  'chat.joined': '{name} joined',
  'chat.left': '{name} left',
  'chat.unverified': 'Signature does not check out: this message may be forged',
  'chat.verified': 'Signed by the author',
  'chat.pending': 'Sending…',
  'chat.failed': 'Not sent',
  'chat.retry': 'Retry',
  'chat.empty': 'No messages yet. Say hello!',
  'chat.gap': 'Some older messages could not be loaded.',
  'roster.title': 'Online',
  'roster.count': { one: '{n} person online', other: '{n} people online' },
  'profile.title': 'Profile',
  'profile.id': 'ID',
  'profile.username': 'Username',
  'profile.firstName': 'First name',
  'profile.lastName': 'Last name',
  'profile.avatar': 'Avatar',
  'profile.chooseAvatar': 'Choose a picture',
  'profile.save': 'Save',
  'profile.close': 'Close',
  'profile.saved': 'Saved',
  'profile.uploading': 'Uploading…',
  'top.room': 'Room',
  'top.join': 'Go',
  'top.exit': 'Exit',
  'top.editProfile': 'Edit your profile',
  'state.connecting': 'Connecting…',
  'state.reconnecting': 'Connection lost, reconnecting…',
  'state.disconnected': 'Offline',
  'error.USERNAME_TAKEN': 'This username is taken. Try another one.',
  'error.BAD_CREDENTIALS': 'Wrong username or password.',
  'error.RATE_LIMITED': 'Too many attempts. Try again in {seconds} s.',
  'error.EMPTY_FIELD': 'Fill in this field.',
  'error.INVALID_FIELD': 'This value is not allowed.',
  'error.NETWORK': 'Cannot reach the chat server. Check your connection.',
  'error.TIMEOUT': 'The chat server did not answer in time.',
  'error.FILE_TOO_LARGE': 'The picture is too large (the limit is {limit} MB).',
  'error.NOT_AN_IMAGE': 'This file is not a picture.',
  'error.IMAGE_TOO_LARGE': 'The picture is too large for the server.',
  'error.BAD_IMAGE': 'The server accepts PNG, JPEG and WebP pictures only.',
  'error.SESSION_INVALID': 'Your session has ended. Sign in again.',
  'error.STORAGE_UNAVAILABLE': 'This browser cannot store data (private mode?).',
  'error.generic': 'Something went wrong: {message}',
} as const;

export type MessageKey = keyof typeof en;
type Table = { [K in MessageKey]: (typeof en)[K] extends string ? string : { one: string; few?: string; many?: string; other: string } };

const ru: Table = {
  'login.title': 'Вход',
  'login.registerTitle': 'Регистрация',
  'login.username': 'Имя пользователя',
  'login.password': 'Пароль',
  'login.firstName': 'Имя',
  'login.lastName': 'Фамилия',
  'login.submit': 'Войти',
  'login.register': 'Зарегистрироваться',
  'login.toRegister': 'Нет аккаунта? Зарегистрируйтесь',
  'login.toLogin': 'Уже есть аккаунт? Войдите',
  'login.working': 'Защищаем пароль…',
  'login.required': 'Заполните это поле.',
  'chat.placeholder': 'Напишите сообщение…',
  'chat.send': 'Отправить',
  'chat.messages': 'Сообщения',
  'chat.newMessages': 'Новые сообщения',
  'chat.joined': '{name} вошёл в чат',
  'chat.left': '{name} вышел из чата',
  'chat.unverified': 'Подпись не сходится: сообщение может быть подделкой',
  'chat.verified': 'Подписано автором',
  'chat.pending': 'Отправляется…',
  'chat.failed': 'Не отправлено',
  'chat.retry': 'Повторить',
  'chat.empty': 'Сообщений пока нет. Поздоровайтесь!',
  'chat.gap': 'Часть старых сообщений загрузить не удалось.',
  'roster.title': 'В сети',
  'roster.count': { one: '{n} человек в сети', few: '{n} человека в сети', many: '{n} человек в сети', other: '{n} человека в сети' },
  'profile.title': 'Профиль',
  'profile.id': 'ID',
  'profile.username': 'Имя пользователя',
  'profile.firstName': 'Имя',
  'profile.lastName': 'Фамилия',
  'profile.avatar': 'Аватар',
  'profile.chooseAvatar': 'Выбрать картинку',
  'profile.save': 'Сохранить',
  'profile.close': 'Закрыть',
  'profile.saved': 'Сохранено',
  'profile.uploading': 'Загрузка…',
  'top.room': 'Комната',
  'top.join': 'Перейти',
  'top.exit': 'Выход',
  'top.editProfile': 'Изменить профиль',
  'state.connecting': 'Подключение…',
  'state.reconnecting': 'Связь потеряна, переподключаемся…',
  'state.disconnected': 'Нет сети',
  'error.USERNAME_TAKEN': 'Это имя пользователя уже занято. Выберите другое.',
  'error.BAD_CREDENTIALS': 'Неверное имя пользователя или пароль.',
  'error.RATE_LIMITED': 'Слишком много попыток. Повторите через {seconds} с.',
  'error.EMPTY_FIELD': 'Заполните это поле.',
  'error.INVALID_FIELD': 'Такое значение не подходит.',
  'error.NETWORK': 'Нет связи с сервером чата. Проверьте подключение.',
  'error.TIMEOUT': 'Сервер чата не ответил вовремя.',
  'error.FILE_TOO_LARGE': 'Картинка слишком большая (не больше {limit} МБ).',
  'error.NOT_AN_IMAGE': 'Этот файл — не картинка.',
  'error.IMAGE_TOO_LARGE': 'Картинка слишком большая для сервера.',
  'error.BAD_IMAGE': 'Сервер принимает только PNG, JPEG и WebP.',
  'error.SESSION_INVALID': 'Сеанс завершён. Войдите снова.',
  'error.STORAGE_UNAVAILABLE': 'Браузер не может сохранять данные (приватный режим?).',
  'error.generic': 'Что-то пошло не так: {message}',
};

export const TABLES: Record<Lang, Table> = { en: en as unknown as Table, ru };

export function pickLang(requested: string | null | undefined): Lang {
  return requested?.toLowerCase().startsWith('ru') ? 'ru' : 'en';
}

/** The language for an element: its own `lang`, the nearest ancestor's (across shadow roots), or the page's. */
export function langOf(element: Element): Lang {
  let node: Node | null = element;
  while (node) {
    if (node instanceof Element && node.hasAttribute('lang')) return pickLang(node.getAttribute('lang'));
    node = node.parentNode ?? (node instanceof ShadowRoot ? node.host : null);
  }
  return pickLang(document.documentElement.lang || navigator.language);
}

function fill(text: string, params: Record<string, string | number>): string {
  return text.replace(/\{(\w+)\}/g, (whole, name: string) => (name in params ? String(params[name]) : whole));
}

/** Looks up `key` in `lang`'s table and fills `{param}` placeholders; plural entries use `params.n`. */
export function translate(lang: Lang, key: MessageKey, params: Record<string, string | number> = {}): string {
  const entry = TABLES[lang][key];
  if (typeof entry === 'string') return fill(entry, params);
  const category = new Intl.PluralRules(lang).select(Number(params.n ?? 0)) as 'one' | 'few' | 'many' | 'other';
  return fill(entry[category] ?? entry.other, params);
}
