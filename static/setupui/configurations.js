// Sync configuration form: add and remove contact filter rows; open collapsed mapping
// sections that hold an error, so every message is seen next to its field.
'use strict';
document.addEventListener('DOMContentLoaded', function () {
    document.querySelectorAll('.ls-filters').forEach(function (box) {
        const body = box.querySelector('tbody');
        const template = box.querySelector('template.ls-filter-template');
        const renumber = function () {
            body.querySelectorAll('tr').forEach(function (row, i) {
                row.querySelector('.ls-filter-number').textContent = String(i + 1);
            });
        };
        box.querySelector('.ls-add-filter').addEventListener('click', function () {
            body.appendChild(template.content.cloneNode(true));
            renumber();
            body.lastElementChild.querySelector('select').focus();
        });
        box.addEventListener('click', function (event) {
            const button = event.target.closest('.ls-remove-filter');
            if (button) {
                button.closest('tr').remove();
                renumber();
            }
        });
    });
    document.querySelectorAll('fieldset.collapse details').forEach(function (details) {
        if (details.closest('fieldset').querySelector('.errorlist')) {
            details.open = true;
        }
    });
});
