// "Try it" on the API reference: GET the path in the form with the caller's own session
// and show the answer. Served from the site, so the page's policy allows it.
document.addEventListener('submit', async (event) => {
  const form = event.target;
  if (!form.classList || !form.classList.contains('try')) return;
  event.preventDefault();
  const path = form.elements.path.value;
  const answer = form.querySelector('.answer');
  if (!path.startsWith('/api/')) { answer.textContent = 'Only paths under /api/ can be tried here.'; return; }
  answer.textContent = 'Asking…';
  try {
    const response = await fetch(path, { credentials: 'same-origin', headers: { accept: 'application/json' } });
    const text = await response.text();
    let shown = text;
    try { shown = JSON.stringify(JSON.parse(text), null, 2); } catch (_) { /* not JSON */ }
    answer.textContent = `${response.status} ${response.statusText}\n${shown}`;
  } catch (error) {
    answer.textContent = `The request failed: ${error}`;
  }
});
