// What the browser suite checks on every page, measured in the page as a person sees it.
// Returns {overflow, overlaps, unlabelled, unreachable}: each a list of short descriptions,
// empty when the page is right.
() => {
    const describe = (el) => {
        let text = (el.innerText || el.value || el.getAttribute('aria-label') || '').trim();
        text = text.replace(/\s+/g, ' ').slice(0, 40);
        const id = el.id ? `#${el.id}` : '';
        const cls = typeof el.className === 'string' && el.className.trim()
            ? `.${el.className.trim().split(/\s+/).join('.')}` : '';
        return `${el.tagName.toLowerCase()}${id}${cls}${text ? ` "${text}"` : ''}`;
    };
    // Shown: rendered, visible, and more than the 1px box that hides an element from sight
    // but not from screen readers (Django's and select2's visually hidden elements).
    const shown = (el) => {
        if (!el.checkVisibility({checkOpacity: true, checkVisibilityCSS: true})) {
            return false;
        }
        const r = el.getBoundingClientRect();
        return r.width > 1 && r.height > 1;
    };

    // 1. No horizontal overflow: the page, every table's container, every scrolling box.
    const overflow = [];
    const root = document.documentElement;
    if (root.scrollWidth > root.clientWidth) {
        overflow.push(`page: ${root.scrollWidth}px wide in a ${root.clientWidth}px window`);
    }
    const boxes = new Set();
    for (const table of document.querySelectorAll('table')) {
        if (shown(table) && table.parentElement) {
            boxes.add(table.parentElement);
        }
    }
    for (const el of document.querySelectorAll('body *')) {
        const style = getComputedStyle(el);
        if (['auto', 'scroll'].includes(style.overflowX) && !['SELECT', 'TEXTAREA'].includes(el.tagName)
                && shown(el)) {
            boxes.add(el);
        }
    }
    for (const box of boxes) {
        if (box.scrollWidth > box.clientWidth + 1) {
            overflow.push(`${describe(box)}: ${box.scrollWidth}px of content in ${box.clientWidth}px`);
        }
    }

    // 2. Nothing covers text: every line of text against every other element's text and
    // against controls, images and icons drawn over it.
    const lines = [];
    const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT, {
        acceptNode: (n) => (n.nodeValue.trim() ? NodeFilter.FILTER_ACCEPT : NodeFilter.FILTER_REJECT),
    });
    while (walker.nextNode()) {
        const node = walker.currentNode;
        const el = node.parentElement;
        if (el === null || ['SCRIPT', 'STYLE', 'TEMPLATE', 'NOSCRIPT', 'OPTION'].includes(el.tagName)
                || el.closest('select, svg') !== null || !shown(el)) {
            continue;
        }
        const range = document.createRange();
        range.selectNodeContents(node);
        for (const r of range.getClientRects()) {
            if (r.width > 1 && r.height > 1) {
                lines.push({el, r});
            }
        }
    }
    const solids = [];
    for (const el of document.querySelectorAll('input:not([type=hidden]), select, textarea, button, img, svg, .ls-icon')) {
        if (shown(el)) {
            const r = el.getBoundingClientRect();
            if (r.width > 1 && r.height > 1) {
                solids.push({el, r});
            }
        }
    }
    const covers = (a, b) => {
        const w = Math.min(a.right, b.right) - Math.max(a.left, b.left);
        const h = Math.min(a.bottom, b.bottom) - Math.max(a.top, b.top);
        // Line boxes of neighbouring lines may touch by a pixel or two; that is not covering.
        return w > 2 && h > Math.max(2, 0.3 * Math.min(a.height, b.height));
    };
    const related = (a, b) => a === b || a.contains(b) || b.contains(a);
    const overlaps = [];
    const sorted = lines.slice().sort((x, y) => x.r.top - y.r.top);
    for (let i = 0; i < sorted.length && overlaps.length < 10; i++) {
        const a = sorted[i];
        for (let j = i + 1; j < sorted.length && sorted[j].r.top < a.r.bottom; j++) {
            const b = sorted[j];
            if (!related(a.el, b.el) && covers(a.r, b.r)) {
                overlaps.push(`${describe(a.el)} and ${describe(b.el)}`);
            }
        }
    }
    for (const s of solids) {
        for (const t of lines) {
            if (overlaps.length >= 10) {
                break;
            }
            if (!related(s.el, t.el) && !(s.el.tagName === 'LABEL') && covers(s.r, t.r)) {
                overlaps.push(`${describe(s.el)} covers ${describe(t.el)}`);
            }
        }
    }

    // 3. Every field has a label (a <label>, aria-label or aria-labelledby).
    const unlabelled = [];
    for (const el of document.querySelectorAll('input:not([type=hidden]):not([type=submit]):not([type=button]):not([type=reset]), select, textarea')) {
        if (!shown(el)) {
            continue;
        }
        const named = (el.labels && el.labels.length > 0) || el.getAttribute('aria-label')
            || el.getAttribute('aria-labelledby');
        if (!named) {
            unlabelled.push(describe(el));
        }
    }

    // 4. Every action can be reached with the keyboard: links, buttons, fields and menus take
    // focus, and nothing clickable (a pointer cursor) is out of the tab order.
    const unreachable = [];
    const actions = 'a[href], button, input:not([type=hidden]), select, textarea, summary, [role=button], [onclick]';
    const previous = document.activeElement;
    for (const el of document.querySelectorAll(actions)) {
        if (!shown(el) || el.disabled || el.closest('fieldset[disabled]')) {
            continue;
        }
        el.focus({preventScroll: true});
        if (document.activeElement !== el || el.tabIndex < 0) {
            unreachable.push(describe(el));
        }
    }
    for (const el of document.querySelectorAll('body *')) {
        if (unreachable.length >= 10) {
            break;
        }
        if (!shown(el) || getComputedStyle(el).cursor !== 'pointer') {
            continue;
        }
        if (el.closest(`${actions}, label, [tabindex]`) === null && el.querySelector(actions) === null) {
            unreachable.push(`${describe(el)} (clickable, not focusable)`);
        }
    }
    // Leave the page as it was found: nothing focused that was not before.
    if (previous && previous !== document.body && previous.focus) {
        previous.focus({preventScroll: true});
    } else if (document.activeElement && document.activeElement.blur) {
        document.activeElement.blur();
    }
    return {overflow, overlaps, unlabelled, unreachable};
}
