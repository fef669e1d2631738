// A task's documents: upload with progress (XMLHttpRequest: fetch cannot report an
// upload's progress), a photo straight from the phone's camera, made smaller in the
// browser before it goes (a technician's 12-megapixel photo over a basement's link),
// previews of images, download through the API with the token, delete.
import { useEffect, useState } from 'preact/hooks';
import { api, authHeader } from '../api.js';
import { formatNumber, t } from '../i18n.js';
import { say, sayError } from '../notice.js';
import { unreachable } from '../offline.js';
import { canChangeOwn } from '../people.js';

function upload(taskId, file, onProgress) {
  return new Promise((resolve, reject) => {
    const form = new FormData();
    form.append('task_id', String(taskId));
    form.append('title', file.name);
    form.append('file', file, file.name);
    const xhr = new XMLHttpRequest();
    xhr.open('POST', '/api/docs');
    for (const [k, v] of Object.entries(authHeader())) xhr.setRequestHeader(k, v);
    xhr.upload.onprogress = (e) => e.lengthComputable && onProgress(Math.round((e.loaded / e.total) * 100));
    xhr.onload = () => {
      let body = null;
      try {
        body = JSON.parse(xhr.responseText);
      } catch {
        // not JSON: the status says enough
      }
      if (xhr.status >= 200 && xhr.status < 300) resolve(body);
      else reject(Object.assign(new Error(body?.detail || `HTTP ${xhr.status}`), { status: xhr.status, problem: body || {} }));
    };
    xhr.onerror = () => reject(new Error('the upload did not reach the server'));
    xhr.send(form);
  });
}

/** The longest side a photo keeps: enough to read a type plate, a fraction of the bytes. */
const PHOTO_SIDE = 1600;

/** A photo made smaller in the browser (JPEG, at most PHOTO_SIDE px on its longest
 * side, turned as the camera held it); any other file, or an image already small, as
 * it is. Done here rather than on the server so that the big file never travels. */
export async function downscaled(file) {
  if (!/^image\/(jpeg|png|webp|heic|heif)$/.test(file.type) || typeof createImageBitmap !== 'function') return file;
  let bitmap;
  try {
    bitmap = await createImageBitmap(file, { imageOrientation: 'from-image' });
  } catch {
    return file;
  }
  const scale = Math.min(1, PHOTO_SIDE / Math.max(bitmap.width, bitmap.height));
  if (scale === 1 && file.size < 1024 * 1024) return file;
  const canvas = document.createElement('canvas');
  canvas.width = Math.round(bitmap.width * scale);
  canvas.height = Math.round(bitmap.height * scale);
  canvas.getContext('2d').drawImage(bitmap, 0, 0, canvas.width, canvas.height);
  bitmap.close?.();
  const blob = await new Promise((ok) => canvas.toBlob(ok, 'image/jpeg', 0.85));
  if (!blob || blob.size >= file.size) return file;
  const name = file.name.replace(/\.[^.]*$/, '') + '.jpg';
  return new File([blob], name, { type: 'image/jpeg' });
}

/** A small preview of an image document: fetched with the token, shown from memory. */
function Preview({ doc }) {
  const [url, setUrl] = useState(null);
  useEffect(() => {
    let made = null;
    let gone = false;
    api('GET', `/api/docs/${doc.id}/content`, { raw: true }).then(({ blob }) => {
      if (gone) return;
      made = URL.createObjectURL(blob);
      setUrl(made);
    }, () => {});
    return () => {
      gone = true;
      if (made) URL.revokeObjectURL(made);
    };
  }, [doc.id, doc.sha256]);
  return url ? <img class="preview" src={url} alt="" width="48" height="48" /> : <span class="preview" />;
}

/** Opens a document the browser can show itself (a PDF, an image) in a new tab, from
 * the bytes fetched with the token. PDFs get no thumbnail: the browser's own viewer is
 * the preview, since a PDF renderer in the board would outweigh the board itself. */
export async function openInBrowser(path) {
  const tab = window.open('', '_blank');
  const { blob } = await api('GET', path, { raw: true });
  const url = URL.createObjectURL(blob);
  if (tab) tab.location.href = url;
  else window.location.assign(url);
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}

/** Saves a file the API serves only with a token: fetched, then handed to the browser. */
export async function download(path, name) {
  const { blob } = await api('GET', path, { raw: true });
  const url = URL.createObjectURL(blob);
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

const size = (bytes) => (bytes < 1024 ? `${formatNumber(bytes)} B` : `${formatNumber(bytes / 1024, 1)} KB`);

export function Documents({ task }) {
  const [items, setItems] = useState([]);
  const [progress, setProgress] = useState(null);
  const load = () => api('GET', `/api/docs?task_id=${task.id}&per_page=500`).then(({ data }) => setItems(data.items), (e) => unreachable(e) || sayError(e));
  useEffect(() => {
    load();
  }, [task.id]);
  const pick = async (e) => {
    const picked = e.target.files[0];
    e.target.value = '';
    if (!picked) return;
    setProgress(0);
    try {
      const file = await downscaled(picked);
      await upload(task.id, file, setProgress);
      say(picked.name);
      load();
    } catch (err) {
      sayError(err);
    } finally {
      setProgress(null);
    }
  };
  const remove = async (d) => {
    if (!confirm(t('docs.confirmDelete', { name: d.title || d.filename }))) return;
    try {
      await api('DELETE', `/api/docs/${d.id}`);
      load();
    } catch (err) {
      sayError(err);
    }
  };
  return (
    <section class="documents">
      <h3>{t('task.docs')}</h3>
      {items.length === 0 && <p class="hint">{t('task.noDocs')}</p>}
      <ul>
        {items.map((d) => (
          <li data-doc-id={d.id}>
            {/^image\//.test(d.content_type || '') && <Preview doc={d} />}
            <button type="button" class="link" onClick={() => download(`/api/docs/${d.id}/content`, d.filename || d.title).catch(sayError)}>
              {d.title || d.filename}
            </button>
            {d.size_bytes != null && <span class="size"> {size(d.size_bytes)}</span>}
            {/^(application\/pdf|image\/)/.test(d.content_type || '') && (
              <button type="button" class="link" data-open={d.id} onClick={() => openInBrowser(`/api/docs/${d.id}/content`).catch(sayError)}>{t('docs.open')}</button>
            )}
            {canChangeOwn('docs', d.uploaded_by, 'delete') && <button type="button" class="link danger" onClick={() => remove(d)}>{t('task.remove')}</button>}
          </li>
        ))}
      </ul>
      <label class="upload">
        {progress == null ? t('task.upload') : t('task.uploading', { pct: progress })}
        <input type="file" name="file" onChange={pick} disabled={progress != null} />
      </label>
      <label class="upload">
        {t('task.photo')}
        <input type="file" name="photo" accept="image/*" capture="environment" onChange={pick} disabled={progress != null} />
      </label>
      {progress != null && <progress max="100" value={progress} />}
    </section>
  );
}
