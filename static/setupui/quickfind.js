'use strict';
// Quick Find on the Setup home: hide Setup entries that do not contain every typed word
// (the same rule as setupui.menu.quick_find, which serves ?q= without JavaScript).
// Enter opens the first match, as in Salesforce Setup.
{
    const input = document.querySelector('[data-quick-find]');
    if (input !== null) {
        const entries = Array.from(document.querySelectorAll('[data-quick-find-entry]'));
        const groups = Array.from(document.querySelectorAll('[data-quick-find-group]'));
        const sections = Array.from(document.querySelectorAll('[data-quick-find-section]'));
        const empty = document.querySelector('[data-quick-find-empty]');
        const echo = document.querySelector('[data-quick-find-echo]');

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
            if (empty !== null) {
                empty.hidden = shown > 0 || terms.length === 0;
                if (echo !== null) {
                    echo.textContent = input.value;
                }
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
        input.focus();
        apply();
    }
}
