// oculo review: keyboard moves. j / k: next / previous flagged field; n / p: next / previous document.
(function () {
  function flagged() {
    return Array.from(document.querySelectorAll('[data-field]')).filter(function (el) {
      return el.dataset.status !== 'ok';
    });
  }
  function show(el) {
    document.querySelectorAll('.current').forEach(function (c) { c.classList.remove('current'); });
    el.classList.add('current');
    document.querySelectorAll('[data-box-for]').forEach(function (b) {
      if (b.dataset.boxFor === el.dataset.field) { b.classList.add('current'); }
    });
    el.focus();
    el.scrollIntoView({block: 'nearest'});
  }
  function step(list, by) {
    if (!list.length) { return; }
    var i = list.indexOf(document.querySelector('[data-field].current'));
    show(list[(i + by + list.length) % list.length]);
  }
  function go(rel) {
    var a = document.querySelector('a[rel=' + rel + ']');
    if (a) { window.location.href = a.href; }
  }
  document.addEventListener('keydown', function (e) {
    var t = e.target.tagName;
    if (t === 'INPUT' || t === 'TEXTAREA' || e.ctrlKey || e.metaKey || e.altKey) { return; }
    if (e.key === 'j') { step(flagged(), 1); } else if (e.key === 'k') { step(flagged(), -1); }
    else if (e.key === 'n') { go('next'); } else if (e.key === 'p') { go('prev'); }
    else { return; }
    e.preventDefault();
  });
  document.querySelectorAll('[data-field]').forEach(function (el) {
    el.addEventListener('focusin', function () { if (!el.classList.contains('current')) { show(el); } });
  });
  var target = window.location.hash && document.getElementById(decodeURIComponent(window.location.hash.slice(1)));
  if (target) { show(target); }
})();
