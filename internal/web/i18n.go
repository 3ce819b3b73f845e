package web

import (
	"net/http"
	"strings"
)

// language is one translation of the checkout: its BCP 47 code, its own
// name for the language switcher, the decimal separator for fiat prices and
// every message the page and its script show.
type language struct {
	Code    string
	Name    string
	Decimal string
	T       map[string]string
}

// languages are the checkout's translations; the first is the fallback.
// Messages with {due} and {paid} are filled in by the template and the
// script with bitcoin amounts.
var languages = []language{
	{Code: "en", Name: "English", Decimal: ".", T: map[string]string{
		"title":              "Pay with bitcoin",
		"price":              "Price",
		"order":              "Order",
		"amount":             "Amount (BTC)",
		"address":            "Bitcoin address",
		"copy":               "Copy",
		"copy_amount":        "Copy amount",
		"copy_address":       "Copy address",
		"copied":             "Copied to the clipboard.",
		"scan":               "Scan the code with your bitcoin wallet, or copy the address and the exact amount.",
		"open_wallet":        "Open in wallet",
		"qr_label":           "QR code of the payment request",
		"expires_in":         "Time left to pay",
		"expires_at":         "Expires at {time} UTC",
		"st_waiting":         "Waiting for your payment.",
		"st_partial":         "Payment of {paid} BTC received. {due} BTC is still due: please send the rest.",
		"st_paid":            "Payment received. Waiting for the network to confirm it.",
		"st_confirmed":       "Payment confirmed. Thank you!",
		"st_expired":         "This invoice has expired. Do not send a payment to it.",
		"st_invalid":         "The payment could not be confirmed. Please contact the merchant.",
		"note_paidPartial":   "Only part of the amount arrived in time. Contact the merchant for a refund.",
		"note_paidOver":      "You paid more than the amount due. Contact the merchant for the difference.",
		"note_paidLate":      "A payment arrived after the invoice expired. Contact the merchant.",
		"return":             "Return to the merchant",
		"cancel":             "Cancel and return to the merchant",
		"close":              "Close",
		"redirecting":        "Returning you to the merchant…",
		"test_network":       "Test network ({net}): do not send real bitcoin.",
		"demo":               "Regtest demo",
		"demo_pay":           "Pay with demo wallet",
		"demo_mine":          "Mine a block",
		"demo_sent":          "Done:",
		"demo_failed":        "Failed:",
		"not_found":          "Invoice not found",
		"not_found_body":     "There is no invoice with this id. Please check the link the merchant gave you.",
		"error":              "Something went wrong",
		"error_body":         "The invoice cannot be shown right now. Please try again in a moment.",
		"language":           "Language",
		"rf_title":           "Your refund",
		"rf_not_found":       "Refund not found",
		"rf_not_found_body":  "This link is not valid. Please use the link from the mail exactly as it came, or ask the shop.",
		"rf_invoice":         "Invoice",
		"rf_amount":          "Amount",
		"rf_ask":             "Enter a bitcoin address of your own wallet to receive the refund.",
		"rf_deadline":        "You can do this until {time} UTC.",
		"rf_address":         "Your bitcoin address",
		"rf_submit":          "Send my refund here",
		"rf_check":           "Check the address carefully: bitcoin sent to a wrong address cannot be recovered.",
		"rf_st_waiting":      "Waiting for your bitcoin address.",
		"rf_st_created":      "Thank you. The refund will be sent to {address}.",
		"rf_st_pending":      "The refund was sent to {address} and is waiting for the network to confirm it.",
		"rf_st_success":      "The refund was sent to {address} and has confirmed.",
		"rf_st_failure":      "The refund could not be paid. Please contact the shop.",
		"rf_st_expired":      "The time to give an address has passed. Please contact the shop.",
		"rf_st_cancelled":    "The shop cancelled this refund.",
		"rf_txid":            "Transaction",
		"rf_err_address":     "This is not a valid bitcoin address for this network ({net}).",
		"rf_err_own":         "This address belongs to the shop. Enter an address of your own wallet.",
		"rf_err_empty":       "Please enter a bitcoin address.",
		"rf_err_has_address": "This refund already has an address; it cannot be changed here.",
		"rf_err_closed":      "This refund no longer takes an address.",
	}},
	{Code: "de", Name: "Deutsch", Decimal: ",", T: map[string]string{
		"title":              "Mit Bitcoin bezahlen",
		"price":              "Preis",
		"order":              "Bestellung",
		"amount":             "Betrag (BTC)",
		"address":            "Bitcoin-Adresse",
		"copy":               "Kopieren",
		"copy_amount":        "Betrag kopieren",
		"copy_address":       "Adresse kopieren",
		"copied":             "In die Zwischenablage kopiert.",
		"scan":               "Scannen Sie den Code mit Ihrer Bitcoin-Wallet oder kopieren Sie Adresse und genauen Betrag.",
		"open_wallet":        "In der Wallet öffnen",
		"qr_label":           "QR-Code der Zahlungsanforderung",
		"expires_in":         "Verbleibende Zeit",
		"expires_at":         "Läuft um {time} UTC ab",
		"st_waiting":         "Wir warten auf Ihre Zahlung.",
		"st_partial":         "Zahlung von {paid} BTC erhalten. Es fehlen noch {due} BTC: bitte senden Sie den Rest.",
		"st_paid":            "Zahlung erhalten. Wir warten auf die Bestätigung durch das Netzwerk.",
		"st_confirmed":       "Zahlung bestätigt. Vielen Dank!",
		"st_expired":         "Diese Rechnung ist abgelaufen. Senden Sie keine Zahlung mehr.",
		"st_invalid":         "Die Zahlung konnte nicht bestätigt werden. Bitte wenden Sie sich an den Händler.",
		"note_paidPartial":   "Nur ein Teil des Betrags ist rechtzeitig eingegangen. Wenden Sie sich für eine Erstattung an den Händler.",
		"note_paidOver":      "Sie haben mehr als den fälligen Betrag gezahlt. Wenden Sie sich wegen der Differenz an den Händler.",
		"note_paidLate":      "Eine Zahlung ist nach Ablauf der Rechnung eingegangen. Wenden Sie sich an den Händler.",
		"return":             "Zurück zum Händler",
		"cancel":             "Abbrechen und zurück zum Händler",
		"close":              "Schließen",
		"redirecting":        "Sie werden zum Händler zurückgeleitet…",
		"test_network":       "Testnetz ({net}): senden Sie keine echten Bitcoin.",
		"demo":               "Regtest-Demo",
		"demo_pay":           "Mit Demo-Wallet bezahlen",
		"demo_mine":          "Einen Block minen",
		"demo_sent":          "Erledigt:",
		"demo_failed":        "Fehlgeschlagen:",
		"not_found":          "Rechnung nicht gefunden",
		"not_found_body":     "Es gibt keine Rechnung mit dieser Kennung. Bitte prüfen Sie den Link des Händlers.",
		"error":              "Etwas ist schiefgelaufen",
		"error_body":         "Die Rechnung kann gerade nicht angezeigt werden. Bitte versuchen Sie es gleich noch einmal.",
		"language":           "Sprache",
		"rf_title":           "Ihre Rückerstattung",
		"rf_not_found":       "Rückerstattung nicht gefunden",
		"rf_not_found_body":  "Dieser Link ist ungültig. Bitte verwenden Sie den Link aus der E-Mail unverändert oder fragen Sie den Shop.",
		"rf_invoice":         "Rechnung",
		"rf_amount":          "Betrag",
		"rf_ask":             "Geben Sie eine Bitcoin-Adresse Ihrer eigenen Wallet ein, um die Rückerstattung zu erhalten.",
		"rf_deadline":        "Das ist bis {time} UTC möglich.",
		"rf_address":         "Ihre Bitcoin-Adresse",
		"rf_submit":          "Rückerstattung hierhin senden",
		"rf_check":           "Prüfen Sie die Adresse sorgfältig: An eine falsche Adresse gesendete Bitcoin sind verloren.",
		"rf_st_waiting":      "Wir warten auf Ihre Bitcoin-Adresse.",
		"rf_st_created":      "Danke. Die Rückerstattung wird an {address} gesendet.",
		"rf_st_pending":      "Die Rückerstattung wurde an {address} gesendet und wartet auf die Bestätigung durch das Netzwerk.",
		"rf_st_success":      "Die Rückerstattung wurde an {address} gesendet und ist bestätigt.",
		"rf_st_failure":      "Die Rückerstattung konnte nicht ausgezahlt werden. Bitte wenden Sie sich an den Shop.",
		"rf_st_expired":      "Die Frist für die Angabe einer Adresse ist abgelaufen. Bitte wenden Sie sich an den Shop.",
		"rf_st_cancelled":    "Der Shop hat diese Rückerstattung storniert.",
		"rf_txid":            "Transaktion",
		"rf_err_address":     "Das ist keine gültige Bitcoin-Adresse für dieses Netzwerk ({net}).",
		"rf_err_own":         "Diese Adresse gehört dem Shop. Geben Sie eine Adresse Ihrer eigenen Wallet ein.",
		"rf_err_empty":       "Bitte geben Sie eine Bitcoin-Adresse ein.",
		"rf_err_has_address": "Diese Rückerstattung hat bereits eine Adresse; sie kann hier nicht geändert werden.",
		"rf_err_closed":      "Diese Rückerstattung nimmt keine Adresse mehr an.",
	}},
	{Code: "es", Name: "Español", Decimal: ",", T: map[string]string{
		"title":              "Pagar con bitcoin",
		"price":              "Precio",
		"order":              "Pedido",
		"amount":             "Importe (BTC)",
		"address":            "Dirección bitcoin",
		"copy":               "Copiar",
		"copy_amount":        "Copiar importe",
		"copy_address":       "Copiar dirección",
		"copied":             "Copiado al portapapeles.",
		"scan":               "Escanee el código con su monedero bitcoin, o copie la dirección y el importe exacto.",
		"open_wallet":        "Abrir en el monedero",
		"qr_label":           "Código QR de la solicitud de pago",
		"expires_in":         "Tiempo restante",
		"expires_at":         "Caduca a las {time} UTC",
		"st_waiting":         "Esperando su pago.",
		"st_partial":         "Hemos recibido {paid} BTC. Faltan {due} BTC: envíe el resto, por favor.",
		"st_paid":            "Pago recibido. Esperando la confirmación de la red.",
		"st_confirmed":       "Pago confirmado. ¡Gracias!",
		"st_expired":         "Esta factura ha caducado. No envíe ningún pago.",
		"st_invalid":         "No se pudo confirmar el pago. Póngase en contacto con el comercio.",
		"note_paidPartial":   "Solo llegó a tiempo una parte del importe. Pida el reembolso al comercio.",
		"note_paidOver":      "Ha pagado más del importe debido. Pida la diferencia al comercio.",
		"note_paidLate":      "Llegó un pago después de caducar la factura. Póngase en contacto con el comercio.",
		"return":             "Volver al comercio",
		"cancel":             "Cancelar y volver al comercio",
		"close":              "Cerrar",
		"redirecting":        "Volviendo al comercio…",
		"test_network":       "Red de pruebas ({net}): no envíe bitcoin reales.",
		"demo":               "Demo en regtest",
		"demo_pay":           "Pagar con el monedero de prueba",
		"demo_mine":          "Minar un bloque",
		"demo_sent":          "Hecho:",
		"demo_failed":        "Error:",
		"not_found":          "Factura no encontrada",
		"not_found_body":     "No existe ninguna factura con este identificador. Compruebe el enlace del comercio.",
		"error":              "Algo salió mal",
		"error_body":         "La factura no se puede mostrar ahora. Inténtelo de nuevo en un momento.",
		"language":           "Idioma",
		"rf_title":           "Su reembolso",
		"rf_not_found":       "Reembolso no encontrado",
		"rf_not_found_body":  "Este enlace no es válido. Use el enlace del correo tal como llegó o consulte a la tienda.",
		"rf_invoice":         "Factura",
		"rf_amount":          "Importe",
		"rf_ask":             "Introduzca una dirección bitcoin de su propio monedero para recibir el reembolso.",
		"rf_deadline":        "Puede hacerlo hasta el {time} UTC.",
		"rf_address":         "Su dirección bitcoin",
		"rf_submit":          "Enviar el reembolso aquí",
		"rf_check":           "Compruebe la dirección con cuidado: los bitcoin enviados a una dirección equivocada no se pueden recuperar.",
		"rf_st_waiting":      "Esperando su dirección bitcoin.",
		"rf_st_created":      "Gracias. El reembolso se enviará a {address}.",
		"rf_st_pending":      "El reembolso se envió a {address} y espera la confirmación de la red.",
		"rf_st_success":      "El reembolso se envió a {address} y está confirmado.",
		"rf_st_failure":      "No se pudo pagar el reembolso. Póngase en contacto con la tienda.",
		"rf_st_expired":      "El plazo para indicar una dirección ha vencido. Póngase en contacto con la tienda.",
		"rf_st_cancelled":    "La tienda canceló este reembolso.",
		"rf_txid":            "Transacción",
		"rf_err_address":     "No es una dirección bitcoin válida para esta red ({net}).",
		"rf_err_own":         "Esta dirección pertenece a la tienda. Introduzca una dirección de su propio monedero.",
		"rf_err_empty":       "Introduzca una dirección bitcoin.",
		"rf_err_has_address": "Este reembolso ya tiene una dirección; no se puede cambiar aquí.",
		"rf_err_closed":      "Este reembolso ya no admite una dirección.",
	}},
	{Code: "fr", Name: "Français", Decimal: ",", T: map[string]string{
		"title":              "Payer en bitcoin",
		"price":              "Prix",
		"order":              "Commande",
		"amount":             "Montant (BTC)",
		"address":            "Adresse bitcoin",
		"copy":               "Copier",
		"copy_amount":        "Copier le montant",
		"copy_address":       "Copier l’adresse",
		"copied":             "Copié dans le presse-papiers.",
		"scan":               "Scannez le code avec votre portefeuille bitcoin, ou copiez l’adresse et le montant exact.",
		"open_wallet":        "Ouvrir dans le portefeuille",
		"qr_label":           "Code QR de la demande de paiement",
		"expires_in":         "Temps restant",
		"expires_at":         "Expire à {time} UTC",
		"st_waiting":         "En attente de votre paiement.",
		"st_partial":         "Paiement de {paid} BTC reçu. Il reste {due} BTC à payer : envoyez le reste, s’il vous plaît.",
		"st_paid":            "Paiement reçu. En attente de la confirmation du réseau.",
		"st_confirmed":       "Paiement confirmé. Merci !",
		"st_expired":         "Cette facture a expiré. N’envoyez plus de paiement.",
		"st_invalid":         "Le paiement n’a pas pu être confirmé. Contactez le marchand.",
		"note_paidPartial":   "Seule une partie du montant est arrivée à temps. Contactez le marchand pour un remboursement.",
		"note_paidOver":      "Vous avez payé plus que le montant dû. Contactez le marchand pour la différence.",
		"note_paidLate":      "Un paiement est arrivé après l’expiration de la facture. Contactez le marchand.",
		"return":             "Retour au marchand",
		"cancel":             "Annuler et retourner au marchand",
		"close":              "Fermer",
		"redirecting":        "Retour au marchand…",
		"test_network":       "Réseau de test ({net}) : n’envoyez pas de vrais bitcoins.",
		"demo":               "Démo regtest",
		"demo_pay":           "Payer avec le portefeuille de démo",
		"demo_mine":          "Miner un bloc",
		"demo_sent":          "Fait :",
		"demo_failed":        "Échec :",
		"not_found":          "Facture introuvable",
		"not_found_body":     "Aucune facture ne porte cet identifiant. Vérifiez le lien fourni par le marchand.",
		"error":              "Une erreur est survenue",
		"error_body":         "La facture ne peut pas être affichée pour le moment. Réessayez dans un instant.",
		"language":           "Langue",
		"rf_title":           "Votre remboursement",
		"rf_not_found":       "Remboursement introuvable",
		"rf_not_found_body":  "Ce lien n'est pas valide. Utilisez le lien du courriel tel quel ou contactez la boutique.",
		"rf_invoice":         "Facture",
		"rf_amount":          "Montant",
		"rf_ask":             "Saisissez une adresse bitcoin de votre propre portefeuille pour recevoir le remboursement.",
		"rf_deadline":        "Vous pouvez le faire jusqu'au {time} UTC.",
		"rf_address":         "Votre adresse bitcoin",
		"rf_submit":          "Envoyer le remboursement ici",
		"rf_check":           "Vérifiez soigneusement l'adresse : des bitcoins envoyés à une mauvaise adresse sont perdus.",
		"rf_st_waiting":      "En attente de votre adresse bitcoin.",
		"rf_st_created":      "Merci. Le remboursement sera envoyé à {address}.",
		"rf_st_pending":      "Le remboursement a été envoyé à {address} et attend la confirmation du réseau.",
		"rf_st_success":      "Le remboursement a été envoyé à {address} et est confirmé.",
		"rf_st_failure":      "Le remboursement n'a pas pu être payé. Veuillez contacter la boutique.",
		"rf_st_expired":      "Le délai pour indiquer une adresse est dépassé. Veuillez contacter la boutique.",
		"rf_st_cancelled":    "La boutique a annulé ce remboursement.",
		"rf_txid":            "Transaction",
		"rf_err_address":     "Ce n'est pas une adresse bitcoin valide pour ce réseau ({net}).",
		"rf_err_own":         "Cette adresse appartient à la boutique. Saisissez une adresse de votre propre portefeuille.",
		"rf_err_empty":       "Veuillez saisir une adresse bitcoin.",
		"rf_err_has_address": "Ce remboursement a déjà une adresse ; elle ne peut pas être modifiée ici.",
		"rf_err_closed":      "Ce remboursement n'accepte plus d'adresse.",
	}},
}

// scriptKeys are the messages the checkout script needs; only these are
// sent to the browser as data.
var scriptKeys = []string{"st_waiting", "st_partial", "st_paid", "st_confirmed", "st_expired", "st_invalid",
	"note_paidPartial", "note_paidOver", "note_paidLate", "copied", "redirecting", "demo_sent", "demo_failed", "qr_label"}

// lookupLanguage returns the translation for a primary language subtag.
func lookupLanguage(code string) (language, bool) {
	code = strings.ToLower(strings.TrimSpace(code))
	if i := strings.IndexAny(code, "-_"); i >= 0 {
		code = code[:i]
	}
	for _, l := range languages {
		if l.Code == code {
			return l, true
		}
	}
	return language{}, false
}

// negotiate picks the page's language: ?lang= when it names a translation,
// else the best Accept-Language match, else English.
func negotiate(r *http.Request) language {
	if l, ok := lookupLanguage(r.URL.Query().Get("lang")); ok {
		return l
	}
	return fromAcceptLanguage(r.Header.Get("Accept-Language"))
}

// fromAcceptLanguage returns the supported language with the highest
// quality in an Accept-Language header; earlier entries win ties. Quality
// values are compared in thousandths, as RFC 9110 allows three decimals.
func fromAcceptLanguage(header string) language {
	best, bestQ := languages[0], -1
	for part := range strings.SplitSeq(header, ",") {
		tag, params, _ := strings.Cut(part, ";")
		l, ok := lookupLanguage(tag)
		if !ok {
			continue
		}
		q := 1000
		for p := range strings.SplitSeq(params, ";") {
			if k, v, ok := strings.Cut(strings.TrimSpace(p), "="); ok && strings.EqualFold(k, "q") {
				q = parseQuality(v)
			}
		}
		if q > bestQ && q > 0 {
			best, bestQ = l, q
		}
	}
	return best
}

// parseQuality parses an RFC 9110 qvalue ("0", "0.8", "1.000") into
// thousandths; anything malformed counts as 0 (not acceptable).
func parseQuality(v string) int {
	v = strings.TrimSpace(v)
	whole, frac, _ := strings.Cut(v, ".")
	if len(frac) > 3 || (whole != "0" && whole != "1") {
		return 0
	}
	q := 0
	if whole == "1" {
		q = 1000
	}
	scale := 100
	for _, c := range frac {
		if c < '0' || c > '9' {
			return 0
		}
		q += int(c-'0') * scale
		scale /= 10
	}
	return min(q, 1000)
}
