'use strict';
// Names for the controls that Django admin's own scripts draw without one, so a screen reader
// says what each is: the autocomplete boxes (select2) take their field's label, and the
// filter boxes of the two-list pickers are named by their search icon's description. Each
// runs after the script that draws those controls: select2 boxes are drawn when jQuery is
// ready, the pickers once the page has loaded.
{
    const nameAutocompletes = function() {
        document.querySelectorAll('select.admin-autocomplete').forEach(function(select) {
            const label = select.id ? document.querySelector(`label[for="${select.id}"]`) : null;
            const box = select.parentElement.querySelector('.select2-selection[role=combobox]');
            if (label === null || box === null) {
                return;
            }
            if (!label.id) {
                label.id = `${select.id}_label`;
            }
            const shown = box.getAttribute('aria-labelledby') || '';
            if (!shown.split(' ').includes(label.id)) {
                box.setAttribute('aria-labelledby', `${label.id} ${shown}`.trim());
            }
            const value = box.querySelector('[role=textbox]');
            if (value !== null) {
                value.setAttribute('aria-labelledby', label.id);
            }
        });
    };
    if (window.django && window.django.jQuery) {
        window.django.jQuery(nameAutocompletes);
    }
    window.addEventListener('load', function() {
        nameAutocompletes();
        document.querySelectorAll('.search-label-icon[aria-label]').forEach(function(icon) {
            icon.setAttribute('role', 'img');
        });
    });
}
