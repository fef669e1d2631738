// "Link Telegram": asks the server for a one-time code (ten minutes, single use) and
// shows how to give it to the bot: the t.me link that opens the bot with the code, or
// the /start command to send. The code binds this user's Telegram account.
import { useEffect, useRef, useState } from 'preact/hooks';
import { api } from '../api.js';
import { formatDate, t } from '../i18n.js';

export function LinkTelegram() {
  const [link, setLink] = useState(null);
  const [error, setError] = useState('');
  const dialog = useRef();
  useEffect(() => {
    if (link || error) dialog.current?.showModal?.();
  }, [link, error]);
  const ask = async () => {
    setError('');
    try {
      const { data } = await api('POST', '/api/auth/telegram/link');
      setLink(data);
    } catch (err) {
      setError(err.message);
    }
  };
  const close = () => {
    dialog.current?.close?.();
    setLink(null);
    setError('');
  };
  return (
    <>
      <button class="link" onClick={ask} data-action="link-telegram">{t('telegram.link')}</button>
      {(link || error) && (
        <dialog ref={dialog} class="task-dialog link-dialog" onClose={close} onCancel={close} data-dialog="telegram-link">
          <header><h2>{t('telegram.link')}</h2></header>
          {error && <p class="error" role="alert">{error}</p>}
          {link && (
            <>
              {link.deep_link && (
                <p><a href={link.deep_link} target="_blank" rel="noopener noreferrer" data-deep-link>{t('telegram.open')}</a></p>
              )}
              <p>{t('telegram.send')}</p>
              <p><code class="link-code" data-code={link.code}>/start {link.code}</code></p>
              <p class="muted">{t('telegram.expires', { at: formatDate(link.expires_at) })}</p>
            </>
          )}
          <button onClick={close}>{t('telegram.close')}</button>
        </dialog>
      )}
    </>
  );
}
