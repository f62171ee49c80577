'use strict';
// Quick Find: as the admin types, hide every Setup entry (in the Setup tree and on the Setup
// home) that does not contain every typed word: the same rule as setupui.menu.quick_find,
// which serves ?q= without JavaScript. Groups of the tree with a match open while a search
// is typed and go back as they were once it is cleared. Enter opens the first match, as in
// Salesforce Setup; Escape clears.
{
    const input = document.querySelector('[data-quick-find]');
    if (input !== null) {
        const entries = Array.from(document.querySelectorAll('[data-quick-find-entry]'));
        const groups = Array.from(document.querySelectorAll('[data-quick-find-group]'));
        const sections = Array.from(document.querySelectorAll('[data-quick-find-section]'));
        const empties = Array.from(document.querySelectorAll('[data-quick-find-empty]'));
        const echoes = Array.from(document.querySelectorAll('[data-quick-find-echo]'));
        const wasOpen = new Map(groups.map((g) => [g, g.open === true]));

        const apply = function() {
            const terms = input.value.toLowerCase().split(/\s+/).filter(Boolean);
            let shown = 0;
            for (const entry of entries) {
                const text = entry.dataset.search || '';
                const match = terms.every((term) => text.includes(term));
                entry.hidden = !match;
                if (match) {
                    shown += 1;
                }
            }
            for (const box of groups.concat(sections)) {
                box.hidden = box.querySelector('[data-quick-find-entry]:not([hidden])') === null;
            }
            for (const group of groups) {
                if (group.tagName === 'DETAILS') {
                    group.open = terms.length > 0 ? !group.hidden : wasOpen.get(group);
                }
            }
            for (const empty of empties) {
                empty.hidden = shown > 0 || terms.length === 0;
            }
            for (const echo of echoes) {
                echo.textContent = input.value;
            }
        };

        input.addEventListener('input', apply);
        input.form.addEventListener('submit', function(event) {
            const first = entries.find((entry) => !entry.hidden);
            if (first !== undefined && input.value.trim() !== '') {
                event.preventDefault();
                window.location.assign(first.querySelector('a').href);
            }
        });
        input.addEventListener('keydown', function(event) {
            if (event.key === 'Escape') {
                input.value = '';
                apply();
            }
        });
        if (document.body.classList.contains('ls-setup-home')) {
            input.focus();
        }
        if (input.value !== '') {
            apply();
        }
    }
}
