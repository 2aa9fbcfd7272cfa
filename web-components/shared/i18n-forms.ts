/**
 * The English words of <sov-login> and <sov-profile>, the errors only they show included. Apart from i18n.ts because only these two
 * show them and both load on first use: imported by both, the table comes in the chunk they share
 * (with form-field.ts) and not in the initial <sov-chat> download. It joins the English table as
 * that chunk runs, before either component renders. The Russian table (i18n-ru.ts) loads on first
 * use anyway and stays whole.
 */
import { addEnglish } from './i18n.ts';

export const formsEn = {
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
  'login.usernameRules': '3 to 32 letters or digits; ".", "_" and "-" allowed inside.',
  'login.passwordShort': 'At least {n} characters.',
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
  'profile.preparing': 'Preparing the picture…',
  'profile.passwordTitle': 'Change password',
  'profile.currentPassword': 'Current password',
  'profile.newPassword': 'New password',
  'profile.changePassword': 'Change password',
  'profile.wrongPassword': 'Wrong password.',
  'profile.passwordChanged': 'Password changed. Your other devices were signed out.',
  'error.USERNAME_TAKEN': 'This username is taken. Try another one.',
  'error.BAD_CREDENTIALS': 'Wrong username or password.',
  'error.FILE_TOO_LARGE': 'The picture is too large (the limit is {limit}).',
  'error.NOT_AN_IMAGE': 'This file is not a picture.',
  'error.IMAGE_TOO_LARGE': 'The picture is too large for the server.',
  'error.BAD_IMAGE': 'The server accepts PNG, JPEG and WebP pictures only.',
} as const;

addEnglish(formsEn);
